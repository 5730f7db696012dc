"""The training loop as plain functions: `train_step`, `evaluate`, `fit`.

`fit` builds the model from the config, trains it on the resampled shard stream for
`train.epochs` epochs of `sizes.json`-derived length, evaluates on the val split, and (rank 0)
writes `last.pt` after every epoch and `best.pt` when val top-1 improves. A run started again
in the same folder resumes from `last.pt` (model, optimizer, scheduler, step, RNG states) and,
because each epoch's data stream is seeded by (seed, epoch), ends with the same metrics as a run
that was never interrupted.
"""

import contextlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pevl.data.checked_tars import check_epoch
from pevl.data.loader import make_eval_loader, make_train_loader, read_sizes, steps_per_epoch, to_model_inputs
from pevl.train.metrics import class_attributes, summary
from pevl.progress import progress, report_progress
from pevl.train.checkpoint import load_checkpoint, load_model_state, model_state, rng_state, save_checkpoint, set_rng_state
from pevl.train.distributed import DistState, all_reduce_mean, barrier, gather_objects, unused_parameters
from pevl.train.optim import (
    autocast, build_optimizer, build_scheduler, cast_frozen_weights, clamp_logit_scale, resolve_amp,
)
from pevl.tracking.runs import Tracker
from schemas import PipelineConfig

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    """Scores of every sample of a split, sorted by key (identical on every rank)."""

    keys: list[str]
    scores: np.ndarray  # (N, C)
    labels: np.ndarray  # (N,)


@dataclass
class FitResult:
    """What `fit` leaves behind: checkpoint paths and metrics."""

    last_path: Path
    best_path: Path
    best: dict[str, float]
    last: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    epochs_run: int = 0
    seconds: float = 0.0


def unwrap(model: Any) -> Any:
    """The bare module under a DDP wrapper."""
    return getattr(model, "module", model)


def train_step(
    model: Any, loss_fn: Any, micro_batches: list[dict], optimizer: Any, scheduler: Any,
    device: Any, dtype: Any = None, grad_clip: float = 0.0, scaler: Any = None,
) -> dict[str, float]:
    """One optimizer step over `grad_accum` micro-batches; returns loss terms, lr and grad norm.

    Args:
        micro_batches: loader batches, video (B, T, S, S, 3) uint8, pose (B, Tp, K, 3), label (B,).
    """
    import torch

    model.train()
    optimizer.zero_grad(set_to_none=True)
    sums: dict[str, float] = {}
    for i, batch in enumerate(micro_batches):
        video, pose, labels = to_model_inputs(batch, device)
        last = i == len(micro_batches) - 1
        # DDP: reduce gradients once, on the last micro-batch
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(device, dtype):
                losses = loss_fn(model(video, pose), labels)
            loss = losses["total"] / len(micro_batches)
            (scaler.scale(loss) if scaler is not None else loss).backward()
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) / len(micro_batches)
    if scaler is not None:
        scaler.unscale_(optimizer)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else float("inf"))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    clamp_logit_scale(model)
    lr = optimizer.param_groups[0]["lr"]
    scheduler.step()
    return {**sums, "lr": lr, "grad_norm": float(norm)}


def score_views(model: Any, batch: dict, device: Any, dtype: Any = None) -> Any:
    """Class scores of each clip of an eval batch, averaged over its views (evaluation and inference).

    Args:
        model: the bare model in eval mode, called under no_grad.
        batch: video (B, V, T, S, S, 3) uint8 and pose (B, V, Tp, K, 3), as `make_eval_loader` yields.
    Returns:
        (B, C) float32 tensor on the device.
    """
    video, pose, _ = to_model_inputs(batch, device)
    b, v = video.shape[:2]
    with autocast(device, dtype):
        out = model.predict(video.flatten(0, 1), pose.flatten(0, 1))  # (B*V, C)
    return out.float().view(b, v, -1).mean(1)


def evaluate(model: Any, loader: Any, state: DistState, dtype: Any = None, desc: str = "eval") -> Predictions:
    """Scores of every sample the loader yields on all ranks, view-averaged and gathered.

    Args:
        loader: batches with video (B, V, T, S, S, 3) uint8 and pose (B, V, Tp, K, 3).
    """
    import torch

    bare = unwrap(model)
    bare.eval()
    keys, scores, labels = [], [], []
    with torch.no_grad():
        for batch in progress(loader, desc=desc, unit="batch", disable=not state.is_main, leave=False):
            scores.append(score_views(bare, batch, state.device, dtype).cpu().numpy())
            labels.append(batch["label"].numpy())
            keys.extend(batch["key"])
    local = (keys, np.concatenate(scores) if scores else None, np.concatenate(labels) if labels else None)
    merged: dict[str, tuple[np.ndarray, int]] = {}
    for k, s, y in gather_objects(local, state):
        for i, key in enumerate(k):
            merged[key] = (s[i], int(y[i]))
    order = sorted(merged)
    if not order:
        raise RuntimeError("evaluation saw no samples")
    return Predictions(order, np.stack([merged[k][0] for k in order]), np.array([merged[k][1] for k in order]))


@dataclass
class _Run:
    """Mutable training state of `fit` (what a checkpoint saves)."""

    model: Any
    ddp: Any
    loss_fn: Any
    optimizer: Any
    scheduler: Any
    scaler: Any
    dtype: Any
    classes: list[dict]
    epoch: int = 0
    step: int = 0
    best: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def load_classes(path: Path) -> list[dict]:
    """classes.json as a list of dicts sorted by label."""
    data = json.loads(Path(path).read_text())
    items = data if isinstance(data, list) else data.get("classes", data)
    return sorted(items, key=lambda c: c["label"])


def build_model_for(cfg: PipelineConfig, classes: list[dict], device: Any) -> Any:
    """Seeded `build_model(cfg.model, classes)` on the device (same init on every rank)."""
    from pevl.model.build import build_seeded
    from schemas import ClassText

    return build_seeded(cfg.model, [ClassText.model_validate(c) for c in classes], cfg.seed).to(device)


def _setup(cfg: PipelineConfig, classes: list[dict], steps: int, state: DistState) -> _Run:
    import torch

    from pevl.losses import build_loss

    model = build_model_for(cfg, classes, state.device)
    loss_fn = build_loss(cfg.model)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train, steps)
    dtype = resolve_amp(cfg.train.amp, state.device)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    ddp = model
    if state.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [state.device.index] if state.device.type == "cuda" else None
        unused = unused_parameters(model, loss_fn, cfg.model, state.device)
        if unused:
            log.info("DDP: %d trainable parameters feed no loss term (%s): find_unused_parameters on",
                     len(unused), ", ".join(unused[:4]) + (" ..." if len(unused) > 4 else ""))
        ddp = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=bool(unused))
    if dtype is not None and state.device.type == "cuda":
        cast_frozen_weights(model, dtype)  # after DDP's float32 dry batch; trainables stay float32
    return _Run(model, ddp, loss_fn, optimizer, scheduler, scaler, dtype, classes)


def _checkpoint_payload(cfg: PipelineConfig, run: _Run, tracker: Tracker, state: DistState) -> dict[str, Any]:
    return {
        "config": cfg.model_dump(mode="json"),
        "classes": run.classes,
        "model_state": "full" if cfg.model.pretrained is None else "trainable",
        "model": model_state(run.model, full=cfg.model.pretrained is None),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else {},
        "epoch": run.epoch,
        "step": run.step,
        "best": run.best,
        "history": run.history,
        "rng": rng_state(),
        "mlflow_run_id": tracker.run_id or "",
        "world_size": state.world,
    }


def _resume(run: _Run, path: Path) -> str:
    """Load last.pt into run; returns its MLflow run id ('' when none)."""
    ckpt = load_checkpoint(path)
    load_model_state(run.model, ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    if run.scaler is not None and ckpt["scaler"]:
        run.scaler.load_state_dict(ckpt["scaler"])
    run.epoch, run.step, run.best, run.history = ckpt["epoch"], ckpt["step"], ckpt["best"], ckpt["history"]
    set_rng_state(ckpt["rng"])
    log.info("resumed from %s at epoch %d, step %d", path, run.epoch, run.step)
    return ckpt["mlflow_run_id"]


def _train_epoch(cfg: PipelineConfig, run: _Run, shards: Path, state: DistState, tracker: Tracker) -> dict[str, float]:
    """One epoch of optimizer steps; logs train/* every log_every steps; returns epoch means."""
    t = cfg.train
    loader, steps = make_train_loader(cfg, shards, run.epoch, state.rank, state.world)
    batches = iter(itertools.islice(loader, steps))
    totals: dict[str, float] = {}
    updates = taken = 0
    bar = progress(total=steps, desc=f"epoch {run.epoch + 1}/{t.epochs}", unit="batch", disable=not state.is_main,
                   leave=False)
    while micro := list(itertools.islice(batches, t.grad_accum)):
        out = train_step(run.ddp, run.loss_fn, micro, run.optimizer, run.scheduler, state.device,
                         run.dtype, t.grad_clip, run.scaler)
        run.step += 1
        updates, taken = updates + 1, taken + len(micro)
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + v
        if run.step % t.log_every == 0:
            tracker.log_metrics(_train_metrics(out), run.step)
        bar.update(len(micro))
        bar.set_postfix(loss=f"{out['total']:.3f}")
    bar.close()
    check_epoch(taken, steps, shards)  # a shortfall means the shards hold less than sizes.json says
    means = all_reduce_mean({k: v / max(1, updates) for k, v in totals.items()}, state)
    return means


def _train_metrics(values: dict[str, float]) -> dict[str, float]:
    out = {f"train/{k}": v for k, v in values.items() if k not in ("total", "lr", "grad_norm")}
    out.update({"train/loss": values["total"], "train/lr": values["lr"], "train/grad_norm": values["grad_norm"]})
    return out


def val_split(cfg: PipelineConfig, shards: Path) -> str:
    """The split evaluated each epoch: train.val_split, or test when the shards have no val split."""
    sizes = read_sizes(shards)
    if sizes.get(cfg.train.val_split, 0) > 0:
        return cfg.train.val_split
    log.warning("no %r split in %s: evaluating on 'test' each epoch", cfg.train.val_split, shards)
    return "test"


def _validate(cfg: PipelineConfig, run: _Run, shards: Path, split: str, state: DistState) -> dict[str, float]:
    loader = make_eval_loader(cfg, shards, split, state.rank, state.world)
    preds = evaluate(run.ddp, loader, state, run.dtype, desc=f"val ({split})")
    return {f"val/{k}": v for k, v in summary(preds.scores, preds.labels, class_attributes(run.classes)).items()}


def check_replicas_in_sync(model: Any, state: DistState) -> None:
    """Raise if the trainable weights differ across ranks (DDP must keep them identical)."""
    if state.world == 1:
        return
    total = sum(float(p.detach().double().sum()) for p in model.parameters() if p.requires_grad)
    sums = gather_objects(total, state)
    if any(abs(s - sums[0]) > 1e-6 * max(1.0, abs(sums[0])) for s in sums):
        raise RuntimeError(f"DDP replicas diverged: parameter sums per rank {sums}")


def fit(cfg: PipelineConfig, shards: Path, out_dir: Path, state: DistState, tracker: Tracker,
        classes: list[dict]) -> FitResult:
    """Train `cfg` on the shards; checkpoints in out_dir (rank 0); resumes from out_dir/last.pt."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    steps = steps_per_epoch(read_sizes(shards)["train"], cfg.train.batch_size, state.world)
    run = _setup(cfg, classes, steps, state)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if cfg.train.resume and last_path.is_file():
        _resume(run, last_path)
    first, split = run.epoch, val_split(cfg, shards)
    epochs = report_progress("train", cfg.train.epochs, "epoch", first, disable=not state.is_main)  # Prefect UI
    while run.epoch < cfg.train.epochs:
        metrics = {f"train_epoch/{k}": v for k, v in _train_epoch(cfg, run, shards, state, tracker).items()}
        run.epoch += 1
        if run.epoch % cfg.train.eval_every == 0 or run.epoch == cfg.train.epochs:
            metrics.update(_validate(cfg, run, shards, split, state))
        metrics["epoch"] = float(run.epoch)
        run.history.append(metrics)
        improved = "val/top1" in metrics and metrics["val/top1"] > run.best.get("val/top1", -1.0)
        if improved:
            run.best = dict(metrics)
        log.info("epoch %d/%d: %s", run.epoch, cfg.train.epochs,
                 ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith(("val/top1", "train_epoch/total"))))
        if state.is_main:
            payload = _checkpoint_payload(cfg, run, tracker, state)
            if improved:
                save_checkpoint(best_path, payload)
            save_checkpoint(last_path, payload)
        tracker.log_metrics(metrics, run.step)  # after the checkpoint: a tracking stall never costs an epoch
        barrier(state)
        epochs.update()
    epochs.close()
    check_replicas_in_sync(run.model, state)
    return FitResult(last_path, best_path, run.best, run.history[-1] if run.history else {}, run.history,
                     run.epoch - first, time.perf_counter() - start)
