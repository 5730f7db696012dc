"""Run per-clip jobs in worker processes (or inline for one worker) with a progress bar (or log lines)."""

import multiprocessing as mp
from collections.abc import Callable, Iterator
from typing import Any

from pevl.progress import progress
from pevl.storage.outputs import resolve_workers


def run_jobs(fn: Callable[[Any], Any], jobs: list[Any], workers: int, desc: str,
             initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[Any]:
    """Yield fn(job) for every job, in completion order.

    `workers` 0 = all cores; one worker runs inline (no process start-up). Worker processes come
    from a fork server (a clean process with `fn`'s module preloaded), never forked from the caller,
    so a caller holding threads or locks (Prefect, tqdm) cannot deadlock them;
    `initializer(*initargs)` runs once per worker (e.g. to build a pose estimator).
    """
    n = resolve_workers(workers, len(jobs))
    with progress(total=len(jobs), desc=desc, unit="clip", report=True) as bar:
        if n == 1 or len(jobs) <= 1:
            if initializer is not None:
                initializer(*initargs)
            for job in jobs:
                yield fn(job)
                bar.update()
            return
        chunk = max(1, min(8, len(jobs) // (n * 8)))
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([fn.__module__])
        with ctx.Pool(n, initializer, initargs) as pool:
            for result in pool.imap_unordered(fn, jobs, chunksize=chunk):
                yield result
                bar.update()
