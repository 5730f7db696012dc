"""Dask worker preload (`dask worker --preload tests/dask_slow_batches.py`) for tests/test_dask_cluster.py.

Each pose batch sleeps PEVL_TEST_BATCH_SLEEP seconds before its real work, so that a worker
killed "mid-run" dies while it holds a batch (tiny test batches take milliseconds; real ones
take minutes). The poses themselves are computed as always.
"""

import os
import time

import pevl.stages.poses as poses



def _slowed(estimate):
    def slow_estimate(*args, **kwargs):
        time.sleep(float(os.environ.get("PEVL_TEST_BATCH_SLEEP", "1.5")))
        return estimate(*args, **kwargs)

    slow_estimate.slowed = True
    return slow_estimate


# dask may load a preload more than once per process: wrap the real function only once
if not getattr(poses.estimate_batch, "slowed", False):
    poses.estimate_batch = _slowed(poses.estimate_batch)
