"""`pevl pretrain poses`: train the embedded YOLOX-format detector and RTMPose-format keypoint model.

    pevl pretrain poses [--out pevl/assets/models/pose] [--train-clips 640] [--det-steps 3000] ...

Writes synthdive_det.onnx, synthdive_pose.onnx and training.json (settings, seeds, data hash,
file hashes, timings, the measured figures) into --out. Defaults rebuild the shipped files.
"""

import argparse
import json
from pathlib import Path

from schemas.pretrain import PoseTrainSettings

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "assets" / "models" / "pose"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options: one per PoseTrainSettings field, plus --out and --no-eval."""
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the .onnx files and training.json")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation on a fresh rendering")
    parser.add_argument("--eval-only", action="store_true",
                        help="measure the models already in --out again (--eval-seed, --eval-clips) and update training.json")
    defaults = PoseTrainSettings()
    for name in PoseTrainSettings.model_fields:
        value = getattr(defaults, name)
        flag = "--" + name.replace("_", "-")
        if isinstance(value, tuple):
            parser.add_argument(flag, type=int, nargs=2, default=value, help=f"default: {value[0]} {value[1]}")
        else:
            parser.add_argument(flag, type=type(value), default=value, help=f"default: {value}")


def run(args: argparse.Namespace) -> int:
    """Build the models; print where they are and the headline figures."""
    from pevl.console import say
    from pevl.pretrain.poses.build import build_pose_models, remeasure

    if args.eval_only:
        record = remeasure(args.out, args.eval_seed, args.eval_clips)
        say(json.dumps(record["evaluation"]["overall"], indent=1))
        return 0
    settings = PoseTrainSettings(**{name: _plain(getattr(args, name)) for name in PoseTrainSettings.model_fields})
    record = build_pose_models(args.out, settings, evaluate=not args.no_eval)
    say(f"pose models in {args.out}: {', '.join(record['files'])}")
    say(f"training: {record['train_seconds']['wall']} s wall, {record['train_seconds']['cpu']} s CPU")
    if "evaluation" in record:
        say(json.dumps(record["evaluation"]["overall"], indent=1))
    return 0


def _plain(value):
    return tuple(value) if isinstance(value, list) else value
