"""The annotated frame of docs/images/predict-frame.png: one SynthDive video drawn as `pevl predict --render` draws it.

    python scripts/predict_frame.py --model CHECKPOINT --video VIDEO [--start F --end F] [--frame N]
                                    [--short-side 384] [--out docs/images/predict-frame.png]

The video goes through `predict_clip` (the stored frames, the poses and the tracked person's box,
the model's top-1), its stored frames through `render.annotate` at a `--short-side` px short side
(the MP4s of --render use 192), and stored frame N (default: the middle one) is written as PNG.
"""

import argparse
import logging
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pevl.console import say, setup_logging  # noqa: E402

log = logging.getLogger("scripts.predict_frame")


def main(argv: list[str] | None = None) -> int:
    """Predict the video, draw the frame, write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint (best.pt / last.pt) or a model URI")
    parser.add_argument("--video", type=Path, required=True, help="a SynthDive video (rgb/<id>.mp4)")
    parser.add_argument("--start", type=int, default=0, help="first source frame of the range (default 0)")
    parser.add_argument("--end", type=int, default=None, help="end of the range, exclusive (default: the video's)")
    parser.add_argument("--frame", type=int, default=None, help="stored frame to draw (default: the middle one)")
    parser.add_argument("--short-side", type=int, default=384, help="short side of the picture in pixels")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/predict-frame.png")
    args = parser.parse_args(argv)
    setup_logging()
    from pevl.predict.inputs import VideoInput
    from pevl.predict.model import load_model
    from pevl.predict.pipeline import ClipPipeline
    from pevl.predict.predict import predict_clip
    from pevl.predict.render import annotate

    loaded = load_model(args.model, "cpu")
    pipeline = ClipPipeline(loaded.cfg, poses=loaded.poses)
    video = VideoInput(args.video, args.start, args.end)
    row, clip = predict_clip(video, pipeline, loaded, loaded.cfg.train.eval_clips, loaded.cfg.train.eval_crops, 5)
    if clip is None:
        log.error("%s: %s", args.video, row.reason)
        return 1
    frame = len(clip.frames) // 2 if args.frame is None else args.frame
    picture = annotate(clip, row, args.short_side)[frame]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    say(f"{args.video} [{row.start_frame}:{row.end_frame}]: {row.top_names[0]} {row.top_probs[0]:.2f}, "
        f"stored frame {frame} (source frame {clip.frame_indices[frame]}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
