"""A grid's children (one training run each) and its rows (their results over seeds)."""

from dataclasses import dataclass, field

from pevl.grid.changes import Changes
from schemas import PipelineConfig


@dataclass(frozen=True)
class GridChild:
    """One training run of a grid: row name, seed, its full config and what its row changes."""

    name: str
    seed: int
    cfg: PipelineConfig
    data: tuple[str, ...] = ()  # data stages with outputs of its own (not the base config's)
    changes: Changes = ()  # the fields the row changes from the base config (pevl.grid.changes)
    previous: Changes | None = None  # ... and from the row above (None: the first row)


@dataclass
class GridRow:
    """Results of one grid row (over its seeds); `data` names its own data stages, `errors` its failed seeds."""

    name: str
    overrides: dict
    metrics: list[dict[str, float]]
    run_ids: list[str]
    seconds: float
    data: tuple[str, ...] = ()
    errors: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)  # the seed of each entry of `metrics`
    changes: Changes = ()  # the fields the row changes from the base config
    previous: Changes | None = None  # ... and from the row above (None: the first row)
