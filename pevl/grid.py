"""Ablation grids: expand a GridSpec into child configs, and write the comparison table and chart.

A grid file (configs/ablations/*.yaml, `schemas.GridSpec`) names rows of dotted overrides on
one base config. Every row trains on the same shards with the same seed(s); the stage
(`pevl.stages.grid.run_grid`) runs them under one MLflow parent run, and this module turns the
results into `comparison.md`, `comparison.csv` and `comparison.png`.
"""

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path

from schemas import GridSpec, PipelineConfig
from schemas.loading import apply_overrides, read_yaml, validate

# Columns of the comparison table: (metric key of the evaluate stage, header).
TABLE_METRICS = (("test/top1", "test top-1 %"), ("test/mean_class_acc", "mean class acc %"))


@dataclass(frozen=True)
class GridChild:
    """One training run of a grid: row name, seed and its full config."""

    name: str
    seed: int
    cfg: PipelineConfig


@dataclass
class GridRow:
    """Results of one grid row (over its seeds)."""

    name: str
    overrides: dict
    metrics: list[dict[str, float]]
    run_ids: list[str]
    seconds: float


def load_grid(path: str | Path) -> GridSpec:
    """Read and validate a grid file (errors name the file and field)."""
    return validate(GridSpec, read_yaml(path), str(path))


def expand(cfg: PipelineConfig, spec: GridSpec) -> list[GridChild]:
    """Child configs: every row x every seed (grid.seeds, or the base seed), validated."""
    base = cfg.model_dump(mode="json")
    seeds = cfg.grid.seeds or [cfg.seed]
    children = []
    for row in spec.runs:
        for seed in seeds:
            data = apply_overrides(base, {**row.set, "seed": seed})
            child = validate(PipelineConfig, data, f"grid {spec.name!r} row {row.name!r}")
            children.append(GridChild(row.name, seed, child))
    return children


def _fmt(values: list[float]) -> str:
    """Mean in percent, with the standard deviation over seeds when there are several."""
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def comparison_markdown(title: str, rows: list[GridRow]) -> str:
    """A markdown table: one line per row, test top-1 and mean class accuracy (mean ± sd over seeds)."""
    seeds = max((len(r.metrics) for r in rows), default=0)
    head = ["config", *[h for _, h in TABLE_METRICS], "Δ top-1 vs previous", "seeds", "minutes"]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    prev = None
    for r in rows:
        top1 = [m.get("test/top1", float("nan")) for m in r.metrics]
        mean = statistics.fmean(top1) if top1 else float("nan")
        delta = "" if prev is None else f"{100 * (mean - prev):+.1f}"
        prev = mean
        cells = [r.name, *[_fmt([m[k] for m in r.metrics if k in m]) for k, _ in TABLE_METRICS],
                 delta, str(len(r.metrics)), f"{r.seconds / 60:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if seeds > 1:
        lines += ["", f"mean ± standard deviation over {seeds} seeds"]
    return "\n".join(lines) + "\n"


def comparison_csv(rows: list[GridRow]) -> str:
    """One CSV line per (row, seed) with every metric key of the evaluate stage."""
    keys = sorted({k for r in rows for m in r.metrics for k in m})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["config", "seed_index", "mlflow_run_id", *keys])
    for r in rows:
        for i, (m, run_id) in enumerate(zip(r.metrics, r.run_ids)):
            w.writerow([r.name, i, run_id, *[f"{m[k]:.6f}" if k in m else "" for k in keys]])
    return buf.getvalue()


def write_comparison(title: str, rows: list[GridRow], out_dir: Path) -> dict[str, Path]:
    """comparison.md, comparison.csv and the bar chart comparison.png in out_dir."""
    from pevl.eval.plots import save_bar_chart

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, table = out_dir / "comparison.md", out_dir / "comparison.csv"
    md.write_text(comparison_markdown(title, rows))
    table.write_text(comparison_csv(rows))
    series = {h: [statistics.fmean([m.get(k, 0.0) for m in r.metrics]) if r.metrics else 0.0 for r in rows]
              for k, h in TABLE_METRICS}
    png = save_bar_chart([r.name for r in rows], series, out_dir / "comparison.png", title)
    return {"markdown": md, "csv": table, "chart": png}
