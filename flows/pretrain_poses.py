"""Prefect flow `pretrain-poses`: build the embedded pose models (one task around `build_pose_models`).

    python -m flows.pretrain_poses [--out DIR]      # or the `pretrain-poses` deployment

The task passes a folder and small records only; the work is `pevl.pretrain.poses.build`.
"""

import argparse
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE


@task(name="build-pose-models", cache_policy=NO_CACHE)
def build_models_task(out: str, settings: dict, evaluate: bool) -> dict:
    """Render, train, export and measure; returns the record written to training.json."""
    from pevl.pretrain.poses.build import build_pose_models
    from schemas.pretrain import PoseTrainSettings

    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return build_pose_models(Path(out), PoseTrainSettings(**fixed), evaluate=evaluate)


@flow(name="pretrain-poses")
def pretrain_poses_flow(out: str | None = None, settings: dict | None = None, evaluate: bool = True) -> dict:
    """Build synthdive_det.onnx and synthdive_pose.onnx into `out` (default: the shipped folder)."""
    from pevl.pretrain.poses.cli import DEFAULT_OUT
    from schemas.pretrain import PoseTrainSettings

    merged = {**PoseTrainSettings().model_dump(), **(settings or {})}
    record = build_models_task(str(out or DEFAULT_OUT), merged, evaluate)
    return {"files": record["files"], "train_seconds": record["train_seconds"],
            "overall": record.get("evaluation", {}).get("overall")}


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args(argv)
    pretrain_poses_flow(args.out, None, not args.no_eval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
