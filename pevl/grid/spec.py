"""Ablation grids: read a grid file and expand it into child configs.

A grid file (configs/ablations/*.yaml, `schemas.GridSpec`) names rows of dotted overrides on
one base config. A row may change model and train fields (it trains on the base shards) or data
fields (`decode.*`, `poses.*`, `shards.*`: it gets its own outputs from the first stage it changes
on). The grid stage (`pevl.grid.stage.run_grid`) runs them under one MLflow parent run (how:
`pevl.grid.schedule`); `pevl.grid.comparison` writes the table and chart of the results.
"""

from pathlib import Path

from pevl import paths
from pevl.grid.changes import diff
from pevl.grid.rows import GridChild
from pevl.grid.study import check_study
from schemas import ConfigError, GridSpec, PipelineConfig
from schemas.loading import apply_overrides, read_yaml, validate

# Fields a row may not change: one grid is one dataset in one work dir (the index is not hashed).
FIXED_FIELDS = ("dataset", "work_dir", "grid", "orchestration")
# The data stages whose output folder a row's own config may move, with the hash naming it.
DATA_HASHES = (("decode", paths.decode_hash), ("poses", paths.poses_hash), ("shard", paths.shards_hash))


def load_grid(path: str | Path) -> GridSpec:
    """Read and validate a grid file (errors name the file and field)."""
    from pevl.grid.study import check_study

    spec = validate(GridSpec, read_yaml(path), str(path))
    check_study(spec, str(path))
    return spec


def own_data(base: PipelineConfig, child: PipelineConfig) -> tuple[str, ...]:
    """The data stages whose output folder differs between a child config and the base."""
    return tuple(stage for stage, digest in DATA_HASHES if digest(child) != digest(base))


def expand(cfg: PipelineConfig, spec: GridSpec) -> list[GridChild]:
    """Child configs: every row x every seed (grid.seeds, or the base seed), validated.

    A row registers its model only when it sets tracking.register itself: the base's registered
    name is for the base run, not for each ablation. Each child carries the fields its row changes
    from the base and from the row above (`pevl.grid.changes`)."""
    base = cfg.model_dump(mode="json")
    base["tracking"]["register"] = None
    seeds = cfg.grid.seeds or [cfg.seed]
    children = []
    above = None  # the resolved config of the row above
    for row in spec.runs:
        fixed = sorted(k for k in row.set if k.split(".")[0] in FIXED_FIELDS)
        if fixed:
            raise ConfigError(f"grid {spec.name!r} row {row.name!r}: {', '.join(fixed)}: a grid row may not change "
                              f"{', '.join(FIXED_FIELDS)} (one grid runs on one dataset in one work dir)")
        for seed in seeds:
            data = apply_overrides(base, {**row.set, "seed": seed})
            child = validate(PipelineConfig, data, f"grid {spec.name!r} row {row.name!r}")
            resolved = child.model_dump(mode="json")
            children.append(GridChild(row.name, seed, child, own_data(cfg, child), diff(base, resolved),
                                      None if above is None else diff(above, resolved)))
        above = resolved
    return children
