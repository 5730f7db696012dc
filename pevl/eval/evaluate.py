"""Evaluate a checkpoint on a split: metrics JSON, per-class CSV, confusion PNG, pose overlay, MLflow.

The checkpoint carries the resolved config and class texts, so no YAML or index is needed;
the shards default to those the config names (`shards_dir(cfg)`).
"""

import json
import logging
from pathlib import Path
from typing import Any

from pevl.data.loader import make_eval_loader
from pevl.eval.plots import save_confusion_png, save_pose_overlay
from pevl.paths import shards_dir
from pevl.tracking.runs import Tracker
from pevl.train.checkpoint import config_of, load_checkpoint, load_model_state
from pevl.train.distributed import DistState, pick_device, set_threads
from pevl.train.loop import Predictions, build_model_for, evaluate
from pevl.train.metrics import class_attributes, confusion_matrix, summary, write_per_class_csv
from pevl.train.optim import autocast, resolve_amp

log = logging.getLogger(__name__)


def load_model_from_checkpoint(ckpt: dict[str, Any], device: Any) -> Any:
    """Rebuild the model from the checkpoint's config and classes, then load its weights."""
    cfg = config_of(ckpt)
    model = build_model_for(cfg, ckpt["classes"], device)
    load_model_state(model, ckpt["model"])
    model.eval()
    return model


def write_reports(preds: Predictions, classes: list[dict], out_dir: Path, title: str) -> dict[str, Path]:
    """predictions.csv, per_class.csv and confusion.png of one evaluated split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [c["name"] for c in classes]
    pred = preds.scores.argmax(axis=1)
    rows = ["key,label,pred,correct"] + [f"{k},{y},{p},{int(y == p)}" for k, y, p in zip(preds.keys, preds.labels, pred)]
    (out_dir / "predictions.csv").write_text("\n".join(rows) + "\n")
    cm = confusion_matrix(pred, preds.labels, len(names))
    return {
        "per_class": write_per_class_csv(pred, preds.labels, names, out_dir / "per_class.csv"),
        "confusion": save_confusion_png(cm, names, out_dir / "confusion.png", title),
        "predictions": out_dir / "predictions.csv",
    }


def pose_overlay(model: Any, cfg: Any, shards: Path, split: str, state: DistState, path: Path) -> Path | None:
    """Draw the first clip of `split` with its joints and the model's P2V weighted pose mask."""
    import torch

    from pevl.data.loader import to_model_inputs

    loader = make_eval_loader(cfg.model_copy(update={"train": cfg.train.model_copy(update={"num_workers": 0})}),
                              shards, split, 0, 1, 1, 1)
    batch = next(iter(loader), None)
    if batch is None:
        return None
    video, pose, _ = to_model_inputs(batch, state.device)
    with torch.no_grad(), autocast(state.device, resolve_amp(cfg.train.amp, state.device)):
        out = model(video[:1, 0], pose[:1, 0])
    mask = out.pose_mask[0].float().cpu().numpy() if getattr(out, "pose_mask", None) is not None else None
    return save_pose_overlay(batch["video"][0, 0].numpy(), batch["pose"][0, 0].numpy(), mask, path)


def evaluate_checkpoint(
    ckpt_path: Path, out_dir: Path, state: DistState | None = None, tracker: Tracker | None = None,
    shards: Path | None = None, split: str = "test", clips: int | None = None, crops: int | None = None,
    device: str | None = None,
) -> dict[str, float]:
    """Evaluate a checkpoint on `split` with clips x crops views; returns `<split>/top1` etc.

    Rank 0 writes metrics.json, predictions.csv, per_class.csv, confusion.png and
    pose_overlay.png to out_dir and logs metrics + those files (under `eval/<split>`) to MLflow.
    """
    ckpt = load_checkpoint(ckpt_path)
    cfg = config_of(ckpt)
    set_threads(cfg.train.threads)
    state = state or DistState(0, 1, 0, pick_device(device or cfg.train.device))
    tracker = tracker or Tracker()
    shards = Path(shards) if shards else shards_dir(cfg)
    clips, crops = clips or cfg.train.eval_clips, crops or cfg.train.eval_crops
    model = load_model_from_checkpoint(ckpt, state.device)
    dtype = resolve_amp(cfg.train.amp, state.device)
    loader = make_eval_loader(cfg, shards, split, state.rank, state.world, clips, crops)
    preds = evaluate(model, loader, state, dtype, desc=f"{split} ({clips}x{crops} views)")
    raw = summary(preds.scores, preds.labels, class_attributes(ckpt["classes"]))
    metrics = {f"{split}/{k}": v for k, v in raw.items()}
    if not state.is_main:
        return metrics
    out_dir = Path(out_dir)
    files = write_reports(preds, ckpt["classes"], out_dir, f"{cfg.name} {split}: top-1 {100 * raw['top1']:.1f}%")
    overlay = pose_overlay(model, cfg, shards, split, state, out_dir / "pose_overlay.png")
    summary_doc = {"checkpoint": str(ckpt_path), "epoch": ckpt["epoch"], "views": {"clips": clips, "crops": crops},
                   "metrics": metrics}
    (out_dir / "metrics.json").write_text(json.dumps(summary_doc, indent=2))
    tracker.log_metrics(metrics, ckpt["step"])
    for path in [*files.values(), overlay, out_dir / "metrics.json"]:
        if path is not None:
            tracker.log_artifact(path, f"eval/{split}")
    log.info("%s: top1 %.4f top5 %.4f mean class %.4f over %d clips", split, raw["top1"], raw["top5"],
             raw["mean_class_acc"], int(raw["num_samples"]))
    return metrics

