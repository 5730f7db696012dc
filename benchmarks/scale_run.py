"""One measured run of the data stages for benchmarks/bench_scale.py, in its own process.

    python -m benchmarks.scale_run CONFIG prefect|plain OUT.json

prefect: the `pevl` flow (flows/pipeline.py) with stages ingest..shard, against $PREFECT_API_URL
(poses fanned out on the config's task runner); plain: the same stage functions one after the other
(`pevl run`). OUT.json gets each stage's wall-clock window (time.time()) and result counts.
"""

import json
import logging
import sys
import time
from pathlib import Path

DATA_STAGES = ["ingest", "decode", "poses", "shard"]


def run_plain(cfg) -> dict[str, dict]:
    """Each data stage through `run_stages`, timed one by one."""
    from pevl.pipeline import run_stages

    windows = {}
    for stage in DATA_STAGES:
        start = time.time()
        (result,) = run_stages(cfg, [stage])
        windows[stage] = {"start": start, "end": time.time(), "seconds": result.seconds, "counts": result.counts}
    return windows


def run_flow(cfg) -> dict[str, dict]:
    """The flow with the data stages; windows from the stage tasks' start and end times."""
    from flows.pipeline import pevl_flow

    start = time.time()
    record = pevl_flow(config=cfg, stages=DATA_STAGES)
    end = time.time()
    return {stage: {"seconds": info.get("seconds", 0.0), "counts": info.get("counts", {}), "flow_start": start,
                    "flow_end": end}
            for stage, info in record.get("stages", {}).items()}


def main(argv: list[str]) -> int:
    """Run one mode on one config; write the windows."""
    from schemas import load_config

    logging.basicConfig(level=logging.WARNING)
    config, mode, out = argv
    cfg = load_config(config)
    windows = run_flow(cfg) if mode == "prefect" else run_plain(cfg)
    Path(out).write_text(json.dumps(windows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
