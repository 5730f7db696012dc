"""A small flow that tells its story as the pipeline does, for `pevl watch` against a real Prefect server.

Run as a script (`python tests/watch_flows.py [--fail] [--go FILE]`, PREFECT_API_URL set): it
prints `flow-run-id: <id>` as soon as its run exists, waits for FILE to exist (so that a watcher
can start first), then logs through the pipeline's own formats
(flows/logs.py, pevl.progress.LogProgress): a plan, two stages with counts, a progress bar of 40
clips (one line per 5%) with a Prefect progress artifact beside it, two training epochs per row
and two grid rows in a subflow, as the grid's rows run. With --fail the second stage raises.
"""

import logging
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.logs import (forward_pipeline_logs, grid_row_line, plan_line,  # noqa: E402
                        stage_done_line, stage_started_line)
from pevl.progress import LogProgress, report_progress  # noqa: E402
from schemas import StageResult, load_config  # noqa: E402

CLIPS = 40
ROWS = ("baseline", "plus_pose")
EPOCHS = 2


@task(name="decode")
def decode_task(fail: bool) -> StageResult:
    """Counts 40 clips with a progress line every 5% and a progress artifact."""
    forward_pipeline_logs()
    ui = report_progress("decode", CLIPS, "clip")
    with LogProgress(total=CLIPS, desc="decode", unit="clip", min_interval=0.0) as bar:
        for i in range(CLIPS):
            time.sleep(0.02)
            bar.update()
            ui.update()
            if fail and i == CLIPS // 2:
                raise RuntimeError("decode: the disk is full")
    ui.close()
    return StageResult(stage="decode", output="/w/decoded/ab12", config_hash="ab12",
                       counts={"clips": CLIPS, "decoded": CLIPS - 2, "rejects": 2}, seconds=1.5)


@task(name="grid-row")
def row_task(name: str, top1: float) -> float:
    """Two epochs of one row, logged as pevl/train/loop.py logs them."""
    forward_pipeline_logs()
    for epoch in range(1, EPOCHS + 1):
        time.sleep(0.2)
        values = {"train_epoch/total": 3.9 - epoch * 0.1, **({"val/top1": top1} if epoch == EPOCHS else {})}
        logging.getLogger("pevl.train.loop").info("epoch %d/%d: %s", epoch, EPOCHS,
                                                  ", ".join(f"{k}={v:.4f}" for k, v in values.items()))
    return top1


@flow(name="grid-rows")
def rows_flow() -> None:
    """The rows one after the other, each logged as the grid's subflow logs it."""
    for done, name in enumerate(ROWS, 1):
        top1 = row_task.with_options(task_run_name=f"{name} seed 0")(name, 0.1 * done)
        get_run_logger().info("%s", grid_row_line(done, len(ROWS), name, 0, "ran", {"test/top1": top1}, 0.4))


@flow(name="watch-story")
def story(fail: bool = False, go: str = "") -> None:
    """Plan, ingest (no work), decode (40 clips), then the grid's rows in a subflow."""
    from prefect.runtime import flow_run

    print(f"flow-run-id: {flow_run.id}", flush=True)
    deadline = time.monotonic() + 120
    while go and not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    forward_pipeline_logs()
    logger = get_run_logger()
    logger.info("%s", plan_line(load_config(ROOT / "configs/demo.yaml"), ["ingest", "decode", "grid"], []))
    logger.info("%s", stage_started_line("ingest"))
    logger.info("%s", stage_done_line("ingest", "reused", StageResult(stage="ingest", output="/w/index",
                                                                      config_hash="-", counts={"clips": CLIPS})))
    logger.info("%s", stage_started_line("decode"))
    logger.info("%s", stage_done_line("decode", "ran", decode_task(fail)))
    logger.info("%s", stage_started_line("grid"))
    rows_flow()


if __name__ == "__main__":
    story(fail="--fail" in sys.argv, go=sys.argv[sys.argv.index("--go") + 1] if "--go" in sys.argv else "")
