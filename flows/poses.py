"""Pose extraction fanned out over clip batches on the configured task runner.

`pevl.stages.poses` splits its work into plan (`start_poses`), any subset of clips in any
process (`estimate_batch`) and collect (`finish_poses`); here the middle part becomes one Prefect
task per batch of `orchestration.pose_batch_clips` clips, mapped on a subflow whose task runner
comes from the config (threads, processes, or Dask).
"""

import logging
import time
from collections import Counter

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from flows.logs import forward_pipeline_logs
from flows.runners import build_task_runner, local_concurrency
from pevl.progress import progress
from schemas import PipelineConfig, StageResult

log = logging.getLogger("flows.poses")

@task(name="poses-batch", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def pose_batch(cfg: PipelineConfig, keys: list[str], concurrent: int = 1) -> dict[str, int]:
    """Estimate and store poses for one batch of clip keys (its own estimator per thread); {posed, rejects}.

    concurrent: batches running at once on this machine (they share its cores).
    """
    from pevl.stages.poses import estimate_batch

    forward_pipeline_logs()  # this task may run in a process of its own
    return estimate_batch(cfg, keys, workers=1, concurrent=concurrent)


@flow(name="poses-fanout")
def poses_fanout(cfg: PipelineConfig, batches: list[list[str]]) -> dict[str, int]:
    """Map pose_batch over the batches; totals of posed clips and rejects (a progress line over all clips)."""
    totals: Counter = Counter()
    concurrent = min(local_concurrency(cfg.orchestration), len(batches))
    with progress(total=sum(map(len, batches)), desc="poses", unit="clip") as bar:
        for future, batch in zip(pose_batch.map(unmapped(cfg), batches, unmapped(concurrent)), batches):
            totals.update(future.result())
            bar.update(len(batch))
    return dict(totals)


def batches_of(keys: list[str], size: int) -> list[list[str]]:
    """Split keys into consecutive batches of at most `size`."""
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def run_poses_fanned_out(cfg: PipelineConfig, force: bool = False) -> StageResult:
    """The poses stage with its per-clip work mapped over batches on the configured task runner."""
    from pevl.stages.poses import finish_poses, start_poses

    started = time.perf_counter()
    result, keys = start_poses(cfg, force)
    if result is not None:
        return result
    batches = batches_of(keys, cfg.orchestration.pose_batch_clips)
    if batches:
        log.info("poses: %d clips in %d batches on the %s task runner", len(keys), len(batches),
                 cfg.orchestration.task_runner)
        runner = build_task_runner(cfg.orchestration)
        poses_fanout.with_options(task_runner=runner)(cfg, batches)
    return finish_poses(cfg, started)
