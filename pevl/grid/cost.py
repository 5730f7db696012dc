"""Which grid rows start first: longest first, by an estimate of each row's training cost.

A pool of `grid.parallel` workers finishes soonest when the longest rows start first: a long row
started last runs alone while the other workers idle (the seed-0 components grid on 2 cores, in grid order:
full PeVL, listed last, ran alone for 5.4 of the grid's 19.7 minutes). The estimate is the
forward GFLOPs of one clip (`pevl.model.info.clip_flops`, a model built with placeholder classes)
x epochs x training clips (the row's sizes.json; 1 before its shards exist). It only orders the
rows: it ignores that frozen parts need no weight gradients, and a row whose model cannot be built
here gets cost 0 (it starts after the others) with a warning.

`dispatch_order` puts rows on the base data before rows that wait for data steps of their own
(they train while those steps run), and `deferred` rows last: rows whose training another worker
of the same run is doing (the flow's train stage beside the grid, `pevl/grid/beside.py`), which reuse
it once that worker lets go of the run folder's lock.
"""

import logging
from collections.abc import Sequence

from pevl import paths
from pevl.grid.rows import GridChild
from schemas import PipelineConfig

log = logging.getLogger("pevl.grid")


def training_clips(cfg: PipelineConfig) -> int:
    """Training clips of the row's shards (sizes.json), 1 when they do not exist yet."""
    from pevl.data.loader import read_sizes

    try:
        return max(1, read_sizes(paths.shards_dir(cfg)).get("train", 1))
    except (OSError, ValueError):
        return 1


def clip_gflops(cfg: PipelineConfig) -> float:
    """Forward GFLOPs of one clip of the row's model; 0.0 (and a warning) when it cannot be built here."""
    try:
        from pevl.model.build import build_seeded
        from pevl.model.info import clip_flops, placeholder_classes

        # the RNG left as it was: a train stage may be building its model in another thread
        return clip_flops(build_seeded(cfg.model, placeholder_classes(2), 0, restore=True), cfg.model)[0]
    except Exception as e:  # noqa: BLE001 - an estimate only orders rows; the row itself reports real errors
        log.warning("grid: no cost estimate for a row (%s: %s); it starts after the others", type(e).__name__, e)
        return 0.0


def row_costs(children: Sequence[GridChild]) -> list[float]:
    """Estimated GFLOPs of each child's training (module doc); one model built per distinct model config."""
    from schemas import config_hash

    gflops: dict[str, float] = {}
    costs = []
    for child in children:
        key = config_hash(child.cfg.model.model_dump(mode="json"))
        if key not in gflops:
            gflops[key] = clip_gflops(child.cfg)
        costs.append(gflops[key] * child.cfg.train.epochs * training_clips(child.cfg))
    return costs


def dispatch_order(children: Sequence[GridChild], costs: Sequence[float],
                   deferred: frozenset[str] = frozenset()) -> tuple[int, ...]:
    """Indices of the children in the order a pool should start them (module doc); ties keep grid order."""
    def key(i: int) -> tuple[bool, bool, float, int]:
        child = children[i]
        return str(paths.train_dir(child.cfg)) in deferred, bool(child.data), -costs[i], i

    return tuple(sorted(range(len(children)), key=key))
