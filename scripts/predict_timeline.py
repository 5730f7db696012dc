"""docs/images/predict-timeline.png: SynthDive clips one after another in one long video, scored in windows.

    python scripts/predict_timeline.py --model CHECKPOINT --videos LIST.txt [--count 6]
                                       [--work DIR] [--out docs/images/predict-timeline.png]

LIST.txt names clips as `pevl predict` reads them (PATH, or PATH<TAB>START<TAB>END); the first
`--count` at the frame rate of the first one (so that seconds stay seconds) are written one after
another into DIR/long.mp4 (mp4v), which `predict_videos` scores with its default windows (the
training clip length, half of it as stride). Prints where each clip lies in the long video and
each window's top-1, and copies the timeline picture to --out.
"""

import argparse
import logging
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pevl.console import say, setup_logging  # noqa: E402

log = logging.getLogger("scripts.predict_timeline")


def concatenate(sources: list, path: Path, fps: float = 25.0) -> list[tuple[int, int]]:
    """Write the frame ranges of `sources` (VideoInputs) one after another as one mp4v video at `fps`.

    Returns each source's frame range [start, end) in the new video.
    """
    writer, spans = None, []
    for source in sources:
        cap = cv2.VideoCapture(str(source.path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, source.start_frame)
        end = source.end_frame if source.end_frame is not None else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        first = spans[-1][1] if spans else 0
        count = 0
        for _ in range(source.start_frame, end):
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            writer.write(np.ascontiguousarray(frame))
            count += 1
        cap.release()
        spans.append((first, first + count))
    if writer is not None:
        writer.release()
    return spans


def main(argv: list[str] | None = None) -> int:
    """Write the long video, predict it in windows, copy the timeline."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint (best.pt / last.pt) or a model URI")
    parser.add_argument("--videos", type=Path, required=True, help="a list file of clips (PATH<TAB>START<TAB>END)")
    parser.add_argument("--count", type=int, default=6, help="clips in the long video")
    parser.add_argument("--work", type=Path, default=Path("work/predict-timeline"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/predict-timeline.png")
    args = parser.parse_args(argv)
    setup_logging()
    from pevl.predict.inputs import read_list
    from pevl.predict.predict import TIMELINES, predict_videos
    from pose_extraction.video import probe_video

    listed = read_list(args.videos)
    fps = probe_video(listed[0].path).fps
    sources = [v for v in listed if probe_video(v.path).fps == fps][: args.count]
    args.work.mkdir(parents=True, exist_ok=True)
    long = args.work / "long.mp4"
    for source, (start, end) in zip(sources, concatenate(sources, long, fps)):
        say(f"{start / fps:6.1f}-{end / fps:5.1f} s  {source.path.name} [{source.start_frame}:{source.end_frame}]")
    rows = predict_videos([long], args.model, args.work / "out", top_k=3, show_progress=False)
    for r in rows:
        say(f"window {r.window}: {r.start_s:5.1f}-{r.end_s:5.1f} s  " +
            (f"{r.top_names[0]} {r.top_probs[0]:.2f}" if r.status == "ok" else f"rejected: {r.reason}"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.work / "out" / TIMELINES / "long.png", args.out)
    say(f"  timeline  {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
