"""Stages train and evaluate: shards -> checkpoints + MLflow run -> test metrics (grid: pevl.grid.stage).

Each is idempotent like the data stages (`_COMPLETE` marker naming the config hash and the
upstream token); an interrupted training run restarts from its `last.pt` (same folder, same
MLflow run). `tags` lets the Prefect flow add its flow-run id and deployment name to the runs.
"""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from pevl import paths
from pevl.storage.outputs import StageError, current_marker, finish, input_token, prepare, write_atomic
from schemas import PipelineConfig, StageResult, config_hash as hash_of, save_config

log = logging.getLogger("pevl.stages.train")


def cached_result(stage: str, folder: Path, config_hash: str, inputs: dict[str, str]) -> StageResult | None:
    """The StageResult of a complete, current output (metrics and info from result.json)."""
    marker = current_marker(folder, config_hash, inputs)
    if not marker or not (folder / "result.json").is_file():
        return None
    log.info("stage %s: reusing complete output in %s (skipped, nothing recomputed)", stage, folder)
    return StageResult.model_validate({**json.loads((folder / "result.json").read_text()), "skipped": True})


def complete(stage: str, folder: Path, cfg: PipelineConfig, config_hash: str, inputs: dict[str, str],
          metrics: dict[str, float], info: dict[str, str], counts: dict[str, int], started: float) -> StageResult:
    """Write result.json, then config + marker (last)."""
    partial = StageResult(stage=stage, output=str(folder), config_hash=config_hash, counts=counts,
                          metrics=metrics, info=info, seconds=time.perf_counter() - started)
    write_atomic(folder / "result.json", partial.model_dump_json(indent=1))
    result = finish(stage, folder, cfg, config_hash, inputs, counts, started)
    return result.model_copy(update={"metrics": metrics, "info": info})


def classes_path(cfg: PipelineConfig) -> Path:
    """classes.json of the shards (copied there by the shard stage), else the index's."""
    path = paths.shards_dir(cfg) / "classes.json"
    return path if path.is_file() else paths.index_dir(cfg) / "classes.json"


def _peek_run_id(last: Path) -> str | None:
    """The MLflow run id stored in an interrupted run's last.pt (to keep logging to it)."""
    from pevl.train.checkpoint import load_checkpoint

    return (load_checkpoint(last).get("mlflow_run_id") or None) if last.is_file() else None


def checked_tracking(cfg: PipelineConfig) -> PipelineConfig:
    """cfg after the tracking server's health check: StageError when it is down (unless
    tracking.on_unreachable=untracked, then an untracked copy of cfg)."""
    from pevl.tracking.runs import TrackingUnreachable, check_tracking, untracked

    try:
        return cfg if check_tracking(cfg) else untracked(cfg)
    except TrackingUnreachable as e:
        raise StageError(str(e)) from None


def _launch_torchrun(cfg: PipelineConfig, force: bool, parent_run_id: str | None, ablation: str,
                     tags: dict[str, str] | None) -> StageResult:
    """Start the train stage under torchrun with train.processes local processes (pevl.stages.rank); read its result."""
    if cfg.train.nodes > 1:
        raise StageError(
            f"train.nodes={cfg.train.nodes}: start `torchrun --nnodes {cfg.train.nodes} --node-rank R "
            f"--nproc-per-node {cfg.train.processes} --rdzv-endpoint HOST:PORT -m pevl.stages.rank CONFIG` on every node"
        )
    folder = paths.train_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = save_config(cfg, folder / "launch.yaml")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={cfg.train.processes}",
           "-m", "pevl.stages.rank", str(cfg_path), "--ablation", ablation]
    cmd += ["--force"] if force else []
    cmd += ["--parent-run-id", parent_run_id] if parent_run_id else []
    for k, v in (tags or {}).items():
        cmd += ["--tag", f"{k}={v}"]
    log.info("launching %d training processes: %s", cfg.train.processes, " ".join(cmd))
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    return StageResult.model_validate_json((folder / "result.json").read_text())


def run_train(cfg: PipelineConfig, force: bool = False, parent_run_id: str | None = None, ablation: str = "",
              tags: dict[str, str] | None = None) -> StageResult:
    """Train on the shards: checkpoints in runs/<hash>/, metrics to MLflow (idempotent, resumable).

    info: mlflow_run_id, checkpoint (the one the evaluate stage tests), best, last.
    """
    from pevl.train.distributed import barrier, cleanup, init_distributed, launched_by_torchrun, lost_peer, set_threads

    started = time.perf_counter()
    shards, folder, config_hash = paths.shards_dir(cfg), paths.train_dir(cfg), paths.train_hash(cfg)
    inputs = {"shard": input_token("shard", shards, paths.shards_hash(cfg))}
    if cfg.train.processes * cfg.train.nodes > 1 and not launched_by_torchrun():
        cached = None if force else cached_result("train", folder, config_hash, inputs)
        return cached or _launch_torchrun(checked_tracking(cfg), force, parent_run_id, ablation, tags)
    set_threads(cfg.train.threads)
    state = init_distributed(cfg.train.device, cfg.train.dist_timeout_s)
    finished = False
    try:
        result = None if force else cached_result("train", folder, config_hash, inputs)
        if result is None:
            cfg = checked_tracking(cfg)  # fail fast (or go untracked) before any work
            if state.is_main:
                prepare(folder, force or not cfg.train.resume, inputs)
            barrier(state)
            result = _train(cfg, folder, config_hash, inputs, state, parent_run_id, ablation, tags, started)
        finished = True
        return result
    except Exception as e:
        if state.world > 1 and lost_peer(e):
            raise StageError(
                f"rank {state.rank} of {state.world}: another training process or node stopped "
                f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); start every node again to resume "
                f"from {folder / 'last.pt'}"
            ) from e
        raise
    finally:
        cleanup(state, finished)


def _train(cfg, folder, config_hash, inputs, state, parent_run_id, ablation, tags, started) -> StageResult:
    from pevl.tracking.runs import Tracker, attach_run, start_run
    from pevl.tracking.inputs import log_shard_inputs
    from pevl.train.loop import fit, load_classes

    classes = load_classes(classes_path(cfg))
    tracker = Tracker()
    if state.is_main:
        resumed = _peek_run_id(folder / "last.pt") if cfg.train.resume else None
        tracker = attach_run(cfg, resumed) if resumed else start_run(
            cfg, ablation or cfg.name, ablation, parent_run_id,
            {**(tags or {}), "stage": "train", "world_size": str(state.world)})
        save_config(cfg, folder / "config.yaml")
        write_atomic(folder / "classes.json", json.dumps(classes, indent=1, ensure_ascii=False))
        tracker.log_artifact(folder / "config.yaml")
        tracker.log_artifact(folder / "classes.json")
        log_shard_inputs(tracker, cfg)  # the shard splits it trains and is tested on (MLflow's Datasets column)
    try:
        result = fit(cfg, paths.shards_dir(cfg), folder, state, tracker, classes)
    except BaseException:
        tracker.end("FAILED")
        raise
    if not state.is_main:
        return StageResult(stage="train", output=str(folder), config_hash=config_hash)
    if cfg.tracking.log_checkpoint and result.best_path.is_file():
        tracker.log_artifact(result.best_path, "checkpoints")
    ckpt = result.best_path if cfg.train.test_checkpoint == "best" else result.last_path
    logged = log_model(cfg, tracker, ckpt if ckpt.is_file() else result.last_path)
    tracker.end()
    info = {"mlflow_run_id": tracker.run_id or "", "checkpoint": str(ckpt), "best": str(result.best_path),
            "last": str(result.last_path), **logged}
    metrics = {k: v for k, v in result.last.items()}
    metrics.update({f"best_{k}": v for k, v in result.best.items() if k.startswith("val/")})
    counts = {"epochs": cfg.train.epochs, "epochs_run": result.epochs_run, "world_size": state.world}
    return complete("train", folder, cfg, config_hash, inputs, metrics, info, counts, started)


def log_model(cfg: PipelineConfig, tracker, checkpoint: Path) -> dict[str, str]:
    """Log the tested checkpoint as the run's MLflow model and register it (tracking.log_model, tracking.register).

    Rank 0 of a tracked run only; a failure is a warning, as for every tracking call: training stands.
    Returns the stage info it adds: model_id, model_uri (runs:/<run id>/model), registered (models:/NAME/VERSION).
    """
    if not cfg.tracking.log_model:
        return {}
    if not tracker.active:  # untracked (said before training), or a tracking call failed (said then)
        if cfg.tracking.register and tracker.failed:
            log.warning("tracking.register=%s: no model version registered (this run's tracking failed: %s)",
                        cfg.tracking.register, tracker.failed)
        return {}
    from pevl.predict.logged_model import log_trained_model, register_model

    model_id = tracker.call("log_model", lambda client, run_id: log_trained_model(client, run_id, checkpoint, cfg))
    if not model_id:
        return {}
    info = {"model_id": model_id, "model_uri": f"runs:/{tracker.run_id}/model"}
    name = cfg.tracking.register
    if name:
        version = tracker.call("register_model", lambda client, run_id: register_model(client, run_id, model_id, name))
        info.update({"registered": f"models:/{name}/{version}"} if version else {})
    return info


def eval_dir(cfg: PipelineConfig) -> Path:
    """runs/<hash>/eval/test-<clips>x<crops>-<checkpoint>/: outputs of the evaluate stage."""
    t = cfg.train
    return paths.train_dir(cfg) / "eval" / f"test-{t.eval_clips}x{t.eval_crops}-{t.test_checkpoint}"


def run_evaluate(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Test the trained checkpoint (train.test_checkpoint) with eval_clips x eval_crops views.

    Logs test/top1, test/top5, test/mean_class_acc, test/attr/* and the report files into the
    training run. info: mlflow_run_id, checkpoint, report folder.
    """
    from pevl.eval.evaluate import evaluate_checkpoint
    from pevl.tracking.runs import attach_run

    started = time.perf_counter()
    train_folder, folder = paths.train_dir(cfg), eval_dir(cfg)
    inputs = {"train": input_token("train", train_folder, paths.train_hash(cfg))}
    config_hash = hash_of(cfg.train.model_dump(include={"eval_clips", "eval_crops", "test_checkpoint"}),
                                    paths.train_hash(cfg))
    cached = None if force else cached_result("evaluate", folder, config_hash, inputs)
    if cached:
        return cached
    cfg = checked_tracking(cfg)
    prepare(folder, True, inputs)
    trained = StageResult.model_validate_json((train_folder / "result.json").read_text())
    ckpt = train_folder / f"{cfg.train.test_checkpoint}.pt"
    tracker = attach_run(cfg, trained.info.get("mlflow_run_id"))
    tracker.link_logged_model()  # the test metrics show on the run's model too (the experiment's Models page)
    if tags:
        tracker.set_tags({f"evaluate.{k}": v for k, v in tags.items()})
    try:
        metrics = evaluate_checkpoint(ckpt, folder, tracker=tracker, clips=cfg.train.eval_clips,
                                      crops=cfg.train.eval_crops, device=cfg.train.device)
    finally:
        tracker.end()
    info = {"mlflow_run_id": trained.info.get("mlflow_run_id", ""), "checkpoint": str(ckpt), "reports": str(folder)}
    counts = {"clips": int(metrics.get("test/num_samples", 0))}
    return complete("evaluate", folder, cfg, config_hash, inputs, metrics, info, counts, started)

