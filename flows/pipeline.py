"""The Prefect flow `pevl`: the pipeline's stages in order, each a cached task over a plain function.

Parameters: the root config, `stages` (which to run, default all), `force` (which to recompute
even when cached) and `overrides` (dotted keys applied to the config, e.g. {"train.lr": 0.01}).
A stage is reported as `ran`, `cached` (Prefect cache hit whose outputs are still there) or
`reused` (the stage function found its complete output). With `grid.beside_train` the train and
evaluate stages run in a thread beside the grid (pevl/grid/beside.py). Deployments: flows/deployments.py.
"""

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.caching import outputs_present
from flows.logs import forward_pipeline_logs, plan_line, stage_done_line, stage_started_line
from flows.stages import TASKS
from flows.summary import StageOutcome, publish, publish_config_error
from pevl import paths
from pevl.grid.beside import BESIDE, overlaps, run_beside
from pevl.pipeline import STAGES, StageName
from pevl.storage.lock import work_dir_lock
from schemas import ConfigError, PipelineConfig, apply_overrides, load_config
from schemas.loading import validate

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def resolve_config(config: PipelineConfig | None, overrides: dict[str, Any] | None) -> PipelineConfig:
    """The config to run: the given one (default: configs/demo.yaml) with dotted overrides applied."""
    cfg = config if config is not None else load_config(DEMO_CONFIG)
    if overrides:
        cfg = validate(PipelineConfig, apply_overrides(cfg.model_dump(mode="json"), overrides), "overrides")
    return cfg


def resolve_or_report(config: PipelineConfig | None, overrides: dict[str, Any] | None,
                      tags: dict[str, str]) -> PipelineConfig:
    """resolve_config; a ConfigError from the parameters is published as the run summary, then raised."""
    try:
        return resolve_config(config, overrides)
    except ConfigError as e:
        get_run_logger().error("config error in the flow's parameters (no stage ran): %s", e)
        publish_config_error(config if config is not None else load_config(DEMO_CONFIG), str(e), tags)
        raise


def run_tags() -> dict[str, str]:
    """MLflow tags naming this Prefect flow run and its deployment."""
    from prefect.runtime import deployment, flow_run

    return {"prefect.flow_run_id": str(flow_run.id or ""), "prefect.flow_run_name": str(flow_run.name or ""),
            "prefect.deployment": str(deployment.name or "none")}


def result_storage(cfg: PipelineConfig):
    """A saved LocalFileSystem block at <work_dir>/.prefect-results (Prefect requires it saved)."""
    from prefect.filesystems import LocalFileSystem

    from schemas import config_hash

    root = paths.work_dir(cfg) / ".prefect-results"
    root.mkdir(parents=True, exist_ok=True)
    block = LocalFileSystem(basepath=str(root))
    block.save(f"pevl-results-{config_hash({'root': str(root)})}", overwrite=True)
    return block


def run_stage(stage: str, cfg: PipelineConfig, forced: bool, storage: Any, tags: dict[str, str],
              **extra: Any) -> StageOutcome:
    """Run one stage task (`extra`: more task parameters); a cache hit whose outputs are gone is recomputed."""
    logger = get_run_logger()
    task = TASKS[stage].with_options(result_storage=storage, refresh_cache=forced)
    logger.info("%s", stage_started_line(stage))
    state = task(cfg, force=forced, tags=tags, return_state=True, **extra)
    result = state.result()  # a failed stage raises its own error here
    cached = state.name == "Cached"
    if cached and not outputs_present(result.output):
        logger.warning("stage %s: cached result points at %s, which is gone: recomputing", stage, result.output)
        state = task.with_options(refresh_cache=True)(cfg, force=False, tags=tags, return_state=True, **extra)
        result, cached = state.result(), False
    status = "cached" if cached else "reused" if result.skipped else "ran"
    logger.info("%s", stage_done_line(stage, status, result))
    return StageOutcome(stage, status, result)


@flow(name="pevl", description="PeVL pipeline: ingest, decode, poses, shard, train, evaluate, grid")
def pevl_flow(
    config: PipelineConfig | None = None,
    stages: list[StageName] | None = None,
    force: list[StageName] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict:
    """Run the chosen stages (default all) in pipeline order; returns the run summary record."""
    forward_pipeline_logs()
    logger = get_run_logger()
    tags = run_tags()
    cfg = resolve_or_report(config, overrides, tags)
    wanted = [s for s in STAGES if s in (stages or STAGES)]
    logger.info("%s", plan_line(cfg, wanted, [s for s in STAGES if s in (force or [])]))
    outcomes: list[StageOutcome] = []
    try:
        with work_dir_lock(paths.work_dir(cfg)):  # one writer per work dir; a second run fails naming the pid
            storage = result_storage(cfg)

            def run(stage: str, **extra: Any) -> StageOutcome:
                return run_stage(stage, cfg, stage in (force or []), storage, tags, **extra)

            beside = overlaps(cfg, wanted)
            for stage in wanted:
                if beside and stage in (*BESIDE, "grid"):
                    if stage == "train":  # train, evaluate and grid at once (pevl/grid/beside.py)
                        run_beside(cfg, wanted, run, outcomes)
                    continue
                outcomes.append(run(stage))
            record = publish(cfg, outcomes, tags)
    except Exception as e:
        stage = wanted[len(outcomes)] if len(outcomes) < len(wanted) else "summary"
        logger.error("stage %s failed: %s: %s", stage, type(e).__name__, e)
        outcomes.append(StageOutcome(stage, "failed", None, f"{type(e).__name__}: {e}"))
        publish(cfg, outcomes, tags)
        raise
    ran = [o.stage for o in outcomes if o.status == "ran"]
    logger.info("stages run: %s; reused: %s", ", ".join(ran) or "none",
                ", ".join(o.stage for o in outcomes if o.status != "ran") or "none")
    return record
