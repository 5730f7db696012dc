"""Stage grid: one MLflow parent run, a child run per grid row (and seed), a comparison table.

Which rows exist: `pevl.grid.spec`; how they run (data steps, row jobs, local pool): `pevl.grid.schedule`;
as a Prefect DAG: flows/grid.py.
"""

import json
import logging
import re
import time
from pathlib import Path

from pevl import paths
from pevl.console import say
from pevl.grid.comparison import write_comparison
from pevl.grid.cost import row_costs
from pevl.grid.rows import GridChild, GridRow
from pevl.grid.schedule import GridContext, GridExecutor, GridPlan, RowResult, plan_grid, run_local
from pevl.grid.spec import expand, load_grid
from pevl.grid.study import write_study
from pevl.stages.catalog import Stage
from pevl.stages.train import cached_result, checked_tracking, complete
from pevl.storage.lock import lease, work_dir_lock
from pevl.storage.outputs import StageError, prepare, write_atomic
from pevl.tracking.runs import start_run
from schemas import GridSpec, PipelineConfig, StageResult

log = logging.getLogger("pevl.stages.grid")


def _metric_name(row: str) -> str:
    """A grid row name as an MLflow metric prefix (letters, digits, _-. / and spaces only)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", row.replace("+", "plus_")).strip("_") or "row"


class GridRowsFailed(StageError):
    """Some rows of a grid failed (the others finished; the table names each failure)."""


def _rows(spec: GridSpec, children: list[GridChild], results: list[RowResult]) -> list[GridRow]:
    """Row results gathered per grid row (in grid order), with their data stages and failures."""
    rows: dict[str, GridRow] = {}
    for child, res in zip(children, results):
        overrides = next(r.set for r in spec.runs if r.name == child.name)
        row = rows.setdefault(child.name, GridRow(child.name, overrides, [], [], 0.0, child.data,
                                                  changes=child.changes, previous=child.previous))
        row.seconds += res.seconds
        if res.status == "failed":
            row.errors.append(f"seed {res.seed}: {res.error}")
        else:
            row.metrics.append(res.metrics)
            row.run_ids.append(res.run_id)
            row.seeds.append(res.seed)
    return list(rows.values())


def _record(plan: GridPlan, steps: dict[str, str], results: list[RowResult]) -> list[dict]:
    """rows.json: per row x seed its status, run id, error and the outcome of each data stage it read."""
    return [{"name": r.name, "seed": r.seed, "status": r.status, "mlflow_run_id": r.run_id, "error": r.error,
             "seconds": round(r.seconds, 2), "where": r.where, "span": list(r.span), "metrics": r.metrics,
             "own_data": list(j.data),
             "data": {s.stage: steps.get(s.folder, "not run") for s in plan.steps if s.folder in j.needs}}
            for j, r in zip(plan.jobs, results)]


def _summary(rows: list[GridRow]) -> dict[str, float]:
    """<row>/top1 and <row>/mean_class_acc: means over the row's finished seeds."""
    summary = {}
    for r in rows:
        for key in ("test/top1", "test/mean_class_acc"):
            values = [m[key] for m in r.metrics if key in m]
            if values:
                summary[f"{_metric_name(r.name)}/{key.split('/')[1]}"] = sum(values) / len(values)
    return summary


def run_grid(cfg: PipelineConfig, force: bool = False, tags: dict[str, str] | None = None,
             execute: GridExecutor | None = None, deferred: frozenset[str] = frozenset()) -> StageResult:
    """Run every row of `cfg.grid.file` (x seeds); table + chart on the parent run.

    Rows run through `execute` (default `run_local`: grid.parallel at a time; the Prefect flow
    passes its DAG), longest first (`pevl.grid.cost`; `deferred`: train folders another worker of
    this run is training, whose rows start last and reuse it). A failed row is reported in the
    table and raises GridRowsFailed once the others finished; a rerun reuses every finished row. info: mlflow_run_id (the parent), table,
    chart; metrics: <row>/top1 and <row>/mean_class_acc (means over seeds).
    """
    with work_dir_lock(paths.work_dir(cfg)):  # re-entrant: the CLI or the flow usually holds it already
        return _run_grid(cfg, force, tags or {}, execute or run_local, frozenset(deferred))


def _run_grid(cfg: PipelineConfig, force: bool, tags: dict[str, str], execute: GridExecutor,
              deferred: frozenset[str]) -> StageResult:
    started = time.perf_counter()
    spec = load_grid(cfg.grid.file)
    folder = paths.grid_dir(cfg, spec.model_dump(mode="json"))
    config_hash = folder.name
    cached = None if force else cached_result("grid", folder, config_hash, {})
    if cached:
        for name in ("comparison.md", "study.md"):
            if (folder / name).is_file():
                say((folder / name).read_text())
        return cached
    cfg = checked_tracking(cfg)  # fail fast (or go untracked) before the first row
    children = expand(cfg, spec)
    longest = cfg.grid.order == "longest_first" and cfg.grid.parallel > 1 and len(children) > 1
    costs = row_costs(children) if longest else None
    plan = plan_grid(children, costs, deferred)
    prepare(folder, True, {})
    parent = start_run(cfg, f"grid:{spec.name}", spec.name, None, {**tags, "grid": spec.name, "stage": "grid"})
    parent.log_artifact(Path(cfg.grid.file), "grid")
    ctx = GridContext(spec.name, parent.run_id, str(paths.work_dir(cfg)), lease(paths.work_dir(cfg)), force, tags)
    log.info("grid %s: %d rows x seeds, %d data steps, %d at a time, starting %s", spec.name, len(plan.jobs),
             len(plan.steps), cfg.grid.parallel, ", ".join(f"{plan.jobs[i].name}/{plan.jobs[i].seed}" for i in plan.dispatch()))
    try:
        steps, results = execute(plan, ctx, cfg)
    except BaseException:
        parent.end("FAILED")
        raise
    rows = _rows(spec, children, results)
    write_atomic(folder / "rows.json", json.dumps(_record(plan, steps, results), indent=1))
    title = f"{spec.name}: {cfg.name} on {cfg.dataset.name}"
    files = {**write_comparison(title, rows, folder), **write_study(title, spec, rows, folder)}
    for path in [*files.values(), folder / "rows.json"]:
        parent.log_artifact(path)
    summary = _summary(rows)
    parent.log_metrics(summary)
    say(files["markdown"].read_text())
    if "study" in files:
        say(files["study"].read_text())
    failed = [f"{r.name} ({e})" for r in rows for e in r.errors]
    if failed:
        parent.end("FAILED")
        raise GridRowsFailed(f"grid {spec.name}: {len(failed)} of {len(results)} runs failed: {'; '.join(failed)} "
                             f"(the others finished; table {files['markdown']}; rerun to retry the failed ones)")
    parent.end()
    info = {"mlflow_run_id": parent.run_id or "", "table": str(files["markdown"]), "chart": str(files["chart"]),
            **{k: str(files[k]) for k in ("study", "study_chart") if k in files}}
    counts = {"rows": len(rows), "runs": len(results), "data_steps": len(plan.steps),
              "reused_runs": sum(r.status == "reused" for r in results)}
    return complete("grid", folder, cfg, config_hash, {}, summary, info, counts, started)


def grid_folder(cfg: PipelineConfig) -> Path:
    """The grid stage's folder: named by the base config's training and the grid file's contents."""
    return paths.grid_dir(cfg, load_grid(cfg.grid.file).model_dump(mode="json"))


def _grid_config(cfg: PipelineConfig) -> str:
    return grid_folder(cfg).name


GRID = Stage("grid", run_grid, paths.shards_dir, grid_folder, _grid_config, data=False)
