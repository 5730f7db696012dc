"""Stage grid: one MLflow parent run, a child run per grid row (and seed), a comparison table."""

import logging
import re
import time
from pathlib import Path

from pevl import paths
from pevl.console import say
from pevl.grid import GridRow, expand, load_grid, write_comparison
from pevl.stages.outputs import prepare
from pevl.stages.train import cached_result, checked_tracking, complete, run_evaluate, run_train
from pevl.tracking import Tracker, start_run
from schemas import PipelineConfig, StageResult

log = logging.getLogger("pevl.stages.grid")


def _metric_name(row: str) -> str:
    """A grid row name as an MLflow metric prefix (letters, digits, _-. / and spaces only)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", row.replace("+", "plus_")).strip("_") or "row"


def _child(cfg: PipelineConfig, name: str, parent: Tracker, spec_name: str, force: bool,
           tags: dict[str, str] | None) -> tuple[dict[str, float], str]:
    """Train + evaluate one grid child under the parent run; returns its metrics and run id."""
    ablation = f"{spec_name}/{name}"
    trained = run_train(cfg, force, parent_run_id=parent.run_id, ablation=ablation, tags=tags)
    tested = run_evaluate(cfg, force, tags)
    metrics = {**trained.metrics, **tested.metrics}
    run_id = trained.info.get("mlflow_run_id", "")
    if trained.skipped and parent.active:
        # reused training: record a child run under this parent that points at the original
        child = start_run(cfg, ablation, ablation, parent.run_id, {**(tags or {}), "reused_run_id": run_id})
        child.log_metrics(metrics)
        child.end()
        run_id = child.run_id or run_id
    return metrics, run_id


def run_grid(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None) -> StageResult:
    """Run every row of `cfg.grid.file` on cfg's shards and seed(s); table + chart on the parent run.

    info: mlflow_run_id (the parent), table (comparison.md path); metrics: <row>/test_top1 and
    <row>/test_mean_class_acc (means over seeds).
    """
    started = time.perf_counter()
    spec = load_grid(cfg.grid.file)
    folder = paths.grid_dir(cfg, spec.model_dump(mode="json"))
    config_hash = folder.name
    cached = None if force else cached_result("grid", folder, config_hash, {})
    if cached:
        say((folder / "comparison.md").read_text())
        return cached
    cfg = checked_tracking(cfg)  # fail fast (or go untracked) before the first row
    prepare(folder, True, {})
    parent = start_run(cfg, f"grid:{spec.name}", spec.name, None, {**(tags or {}), "grid": spec.name, "stage": "grid"})
    parent.log_artifact(Path(cfg.grid.file), "grid")
    rows: dict[str, GridRow] = {}
    try:
        for child in expand(cfg, spec):
            t0 = time.perf_counter()
            row = rows.setdefault(child.name, GridRow(child.name, next(r.set for r in spec.runs if r.name == child.name),
                                                      [], [], 0.0))
            metrics, run_id = _child(child.cfg, child.name, parent, spec.name, force, tags)
            row.metrics.append(metrics)
            row.run_ids.append(run_id)
            row.seconds += time.perf_counter() - t0
            log.info("grid %s: %s (seed %d) test top-1 %.4f", spec.name, child.name, child.seed,
                     metrics.get("test/top1", float("nan")))
    except BaseException:
        parent.end("FAILED")
        raise
    title = f"{spec.name}: {cfg.name} on {cfg.dataset.name}"
    files = write_comparison(title, list(rows.values()), folder)
    for path in files.values():
        parent.log_artifact(path)
    summary = {}
    for r in rows.values():
        for key in ("test/top1", "test/mean_class_acc"):
            values = [m[key] for m in r.metrics if key in m]
            if values:
                summary[f"{_metric_name(r.name)}/{key.split('/')[1]}"] = sum(values) / len(values)
    parent.log_metrics(summary)
    parent.end()
    say(files["markdown"].read_text())
    info = {"mlflow_run_id": parent.run_id or "", "table": str(files["markdown"]), "chart": str(files["chart"])}
    counts = {"rows": len(rows), "runs": sum(len(r.metrics) for r in rows.values())}
    return complete("grid", folder, cfg, config_hash, {}, summary, info, counts, started)
