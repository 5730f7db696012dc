"""Pictures of both pose backends on one real frame, for docs/poses.md and docs/pose-models.md.

Frame 80 of sports2d's demo video (fetched by `make test-assets`) at a 480 px short side: the
blazepose backend (every person it reads; the main person's track in green), and the embedded
SynthDive models (`builtin:pose/synthdive_*`, the demo's rtmlib settings) on the same frame.

    python scripts/real_frame_overlays.py [--frame 80] [--out docs/images]
"""

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SKELETON = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (11, 12), (5, 11), (6, 12), (11, 13), (13, 15), (12, 14),
            (14, 16), (0, 1), (0, 2), (1, 3), (2, 4))
log = logging.getLogger("scripts.real_frame_overlays")


def draw(bgr: np.ndarray, joints: np.ndarray, scores: np.ndarray, box: np.ndarray, colour: tuple, label: str) -> None:
    """One person's skeleton (joints scored above 0.3), box and label."""
    for a, b in SKELETON:
        if scores[a] > 0.3 and scores[b] > 0.3:
            cv2.line(bgr, tuple(map(int, joints[a])), tuple(map(int, joints[b])), colour, 2, cv2.LINE_AA)
    for (x, y), s in zip(joints, scores):
        if s > 0.3:
            cv2.circle(bgr, (int(x), int(y)), 3, colour, -1, cv2.LINE_AA)
    cv2.rectangle(bgr, tuple(map(int, box[:2])), tuple(map(int, box[2:])), colour, 1)
    cv2.putText(bgr, label, (int(box[0]), max(12, int(box[1]) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                cv2.LINE_AA)


def blazepose_picture(frames: np.ndarray) -> np.ndarray:
    """The last frame with every person the blazepose backend reads; the main person's track in green."""
    from pose_extraction import FrameContext, build_estimator
    from schemas import PoseConfig

    estimator = build_estimator(PoseConfig(backend="blazepose"), Path("/nonexistent"))
    carried, found = [], []
    for frame in frames:
        found = estimator.detect.people(frame, carried)
        carried = [p.region for p in found]
    context = FrameContext("demo", "demo.mp4", Path("/nonexistent"), tuple(range(len(frames))), (1768, 994))
    track = estimator.estimate(frames, context)
    from pose_extraction.tracking import box_iou

    bgr = cv2.cvtColor(frames[-1], cv2.COLOR_RGB2BGR)
    main = track.bboxes[-1]
    for person in found:
        is_main = box_iou(main, np.clip(person.box, 0, None)[None])[0] > 0.9
        colour, role = ((0, 220, 0), "main person") if is_main else ((255, 160, 0), "other person")
        draw(bgr, person.joints, person.scores, person.box, colour, f"{role}, presence {person.presence:.2f}")
    return bgr


def synthdive_picture(frame: np.ndarray) -> np.ndarray:
    """The frame with what the embedded SynthDive models (the demo's settings) find in it, with joint scores."""
    from pose_extraction.rtmlib_backend import build_rtmlib
    from schemas import load_config

    poses = load_config(ROOT / "configs" / "demo.yaml").poses
    estimator = build_rtmlib(poses.rtmlib, poses.main_person)
    dets = estimator.detect(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    for box, joints, scores in zip(dets.boxes, dets.keypoints, dets.scores):
        draw(bgr, joints, scores, box, (0, 0, 255), f"SynthDive models: mean joint score {scores.mean():.2f}")
    return bgr


def main(argv: list[str] | None = None) -> int:
    """Write blazepose-real-frame.png and synthdive-models-real-frame.png."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frame", type=int, default=80)
    parser.add_argument("--short-side", type=int, default=480)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    from pevl.console import setup_logging
    from tests.real_footage import demo_frames

    setup_logging()
    frames = demo_frames(args.short_side, last=args.frame)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, image in (("blazepose-real-frame.png", blazepose_picture(frames)),
                        ("synthdive-models-real-frame.png", synthdive_picture(frames[-1]))):
        cv2.imwrite(str(args.out / name), image)
        log.info("wrote %s", args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
