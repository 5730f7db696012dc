"""The train and evaluate stages beside the grid (`grid.beside_train`): the lone train stage's idle core does grid work.

Run in order, the flow trains the base config alone (on a 2-core CPU the tiny model's step uses
about one core), then the grid trains its other rows. With `grid.beside_train` the flow starts the
train stage (then evaluate) in a thread, waits until that thread holds the run folder's lock
(`pevl.storage.lock.folder_lock`, which every grid row also takes around its train + evaluate), then runs
the grid stage in the flow's own thread with the base config's train folder `deferred`: the grid
starts that row last, its worker blocks on the lock until the train and evaluate stages are done,
and reuses both (measured on 2 cores: 28 s of the demo's 486 s of training saved, docs/training.md).
The stages keep their tasks, caching and outcomes; the summary lists them in pipeline order. A failure of either side is raised once both have ended (train/evaluate's first).
"""

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pevl import paths
from pevl.storage.lock import folder_lock
from schemas import PipelineConfig

BESIDE = ("train", "evaluate")


def overlaps(cfg: PipelineConfig, wanted: list[str]) -> bool:
    """True when this run trains beside the grid (grid.beside_train, and both train and grid wanted)."""
    return cfg.grid.beside_train and "train" in wanted and "grid" in wanted


def run_beside(cfg: PipelineConfig, wanted: list[str], run: Callable[..., object], outcomes: list) -> None:
    """Run the wanted train/evaluate stages in a thread and the grid here, appending to `outcomes`.

    `run(stage, deferred=...)` runs one stage task and returns its outcome; train and evaluate
    outcomes are appended in order as they finish, then the grid's.
    """
    folder = paths.train_dir(cfg)
    locked = threading.Event()

    def train_then_evaluate() -> None:
        with folder_lock(folder):
            locked.set()
            for stage in (s for s in wanted if s in BESIDE):
                outcomes.append(run(stage))

    with ThreadPoolExecutor(1, thread_name_prefix="pevl-train") as pool:
        future = pool.submit(contextvars.copy_context().run, train_then_evaluate)  # the flow run's context
        while not locked.wait(0.1) and not future.done():
            pass
        grid, grid_error = None, None
        if not future.done() or future.exception() is None:
            try:
                grid = run("grid", deferred=[str(folder)])
            except Exception as e:  # noqa: BLE001 - raised below, after the train thread has ended
                grid_error = e
        future.result()  # train/evaluate's error first
    if grid_error is not None:
        raise grid_error
    outcomes.append(grid)
