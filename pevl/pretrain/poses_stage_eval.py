"""A pipeline run's stored poses against SynthDive's ground truth: the poses stage's own output, measured.

    python -m pevl.pretrain.poses_stage_eval DECODED_DIR POSES_DIR [--clips-per-class 6 --seed 0 --width 160 --height 120]

DECODED_DIR and POSES_DIR are the decode and poses stage folders of one run (`<work_dir>/decoded/<hash>`,
`<work_dir>/poses/<hash>`); the synth options are the run's `dataset.synth`. The ground truth is rebuilt from
the same plan and seeds (joints, and the diver box as the training data defines it).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from pevl.pretrain.poses_data import ClipSample, diver_boxes
from pevl.pretrain.poses_eval import compare, merge, summarise
from pose_extraction.ground_truth import scale_keypoints
from pose_extraction.types import PoseTrack


def measure_stage(decoded: Path, poses: Path, clips_per_class: int, seed: int, size: tuple[int, int],
                  test_fraction: float = 0.25) -> dict:
    """Detection rate, PCK and the rest (poses_eval.summarise) of every clip the poses stage stored."""
    import pandas as pd

    from pevl.synth.plan import make_plan
    from pevl.synth.render import build_scene, keypoints
    from pevl.synth.vocab import dive_classes

    plans = {p.vid_name: p for p in make_plan(list(range(48)), clips_per_class, seed, test_fraction)}
    parts = []
    for _, row in pd.read_parquet(Path(decoded) / "decoded.parquet").iterrows():
        plan = plans[row.clip_id]
        scene = build_scene(dive_classes()[plan.label], plan.seed, size, plan.fps, plan.venue_seed)
        idx, stored = list(row.frame_indices), (int(row.width), int(row.height))
        joints = scale_keypoints(keypoints(scene)[idx], size, stored)
        boxes = diver_boxes(joints, scene.camera.scale[idx] * stored[0] / size[0], stored)
        track = PoseTrack(np.load(Path(poses) / "clips" / f"{row.key}.pose.npy", allow_pickle=False),
                          np.load(Path(poses) / "clips" / f"{row.key}.bbox.npy", allow_pickle=False))
        parts.append(compare(track, ClipSample(np.zeros((len(idx), 1, 1, 3), np.uint8), joints, boxes, plan.seed), 0))
    return {"clips": len(parts), **summarise(merge(parts))}


def main(argv: list[str] | None = None) -> int:
    """Print the figures as JSON."""
    from pevl.console import say

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("decoded", type=Path)
    parser.add_argument("poses", type=Path)
    parser.add_argument("--clips-per-class", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    args = parser.parse_args(argv)
    result = measure_stage(args.decoded, args.poses, args.clips_per_class, args.seed, (args.width, args.height),
                           args.test_fraction)
    say(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
