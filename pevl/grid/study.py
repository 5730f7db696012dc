"""Study curves of a grid whose rows are named <condition>/<variant> (a grid file's `study` section).

The pose-quality study (configs/studies/pose_quality.yaml) varies one pose-error field per axis
(jitter, dropped joints, swaps) and trains each condition as several variants (full PeVL,
without refinement supervision, without pose). This module turns the grid's rows into
`study.md` (mean ± standard error over seeds per condition and variant, and the paired gains
the spec names) and `study.png` (one panel per axis: accuracy against the field's value, one
line per variant, the reference conditions as points at the right).
"""

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from pevl.grid.rows import GridRow
from schemas import ConfigError, GridSpec, StudySpec

METRIC = "test/top1"


@dataclass(frozen=True)
class Cell:
    """One condition x variant: per-seed top-1 (by seed) and the row it was read from."""

    row: str
    by_seed: dict[int, float]
    borrowed: bool = False  # read from another condition (a variant this condition does not run)

    @property
    def values(self) -> list[float]:
        return [self.by_seed[s] for s in sorted(self.by_seed)]


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (nan with fewer than 2 values)."""
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan)


def paired(a: Cell, b: Cell) -> list[float]:
    """a - b on the seeds both finished (the same seed draws the same split and initialisation)."""
    return [a.by_seed[s] - b.by_seed[s] for s in sorted(set(a.by_seed) & set(b.by_seed))]


def _conditions(study: StudySpec) -> list[str]:
    seen: dict[str, None] = {}
    for axis in study.axes:
        seen.update(dict.fromkeys(axis.conditions))
    seen.update(dict.fromkeys(study.references))
    return list(seen)


def check_study(spec: GridSpec, where: str) -> None:
    """ConfigError (naming the grid file) when the study names rows or fields the grid lacks."""
    study = spec.study
    if study is None:
        return
    names = {r.name for r in spec.runs}
    problems = []
    for condition in _conditions(study):
        if not any(f"{condition}/{v}" in names for v in study.variants):
            problems.append(f"condition {condition!r} has no row <{condition}>/<variant>")
    for variant in study.variants:
        if not any(n.endswith(f"/{variant}") for n in names):
            problems.append(f"variant {variant!r} has no row <condition>/{variant}")
    for gain in study.gains:
        problems += [f"gain {gain.name!r}: {v!r} is not a variant" for v in (gain.plus, gain.minus)
                     if v not in study.variants]
    sets = {r.name: r.set for r in spec.runs}
    for axis in study.axes:
        for condition in axis.conditions:
            rows = [n for n in names if n.startswith(f"{condition}/")]
            problems += [f"axis {axis.label!r}: row {n!r} does not set {axis.field}" for n in sorted(rows)
                         if axis.field not in sets[n]]
    if problems:
        raise ConfigError(f"{where}: study: " + "; ".join(problems))


def cells(study: StudySpec, rows: list[GridRow]) -> dict[tuple[str, str], Cell]:
    """(condition, variant) -> Cell; a variant a condition lacks comes from its first condition that has it."""
    by_name = {r.name: r for r in rows}

    def read(name: str, borrowed: bool = False) -> Cell:
        r = by_name[name]
        return Cell(name, {s: m[METRIC] for s, m in zip(r.seeds, r.metrics) if METRIC in m}, borrowed)

    conditions = _conditions(study)
    out = {}
    for variant in study.variants:
        own = [c for c in conditions if f"{c}/{variant}" in by_name]
        for condition in conditions:
            if f"{condition}/{variant}" in by_name:
                out[condition, variant] = read(f"{condition}/{variant}")
            elif own:
                out[condition, variant] = read(f"{own[0]}/{variant}", borrowed=True)
    return out


def _pct(mean: float, se: float, signed: bool = False) -> str:
    if math.isnan(mean):
        return "-"
    text = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    return text + ("" if math.isnan(se) else f" ± {100 * se:.1f}")


def _x(spec: GridSpec, axis_field: str, condition: str) -> object | None:
    """The value a condition's rows set for an axis field (None: the condition is not on that axis)."""
    row = next((r for r in spec.runs if r.name.startswith(f"{condition}/") and axis_field in r.set), None)
    return row.set[axis_field] if row else None


def study_markdown(title: str, spec: GridSpec, rows: list[GridRow]) -> str:
    """Per condition: its field values, each variant's top-1 and each gain (mean ± SE over seeds)."""
    study = spec.study
    table = cells(study, rows)
    head = ["condition", *[a.label for a in study.axes], *study.variants, *[g.name for g in study.gains]]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    borrowed = set()
    for condition in _conditions(study):
        xs = [("" if x is None else str(x)) for x in (_x(spec, a.field, condition) for a in study.axes)]
        values = []
        for variant in study.variants:
            cell = table.get((condition, variant))
            values.append(_pct(*mean_se(cell.values)) + ("*" if cell and cell.borrowed else "") if cell else "-")
            if cell and cell.borrowed:
                borrowed.add(f"{variant} from {cell.row}")
        gains = []
        for gain in study.gains:
            a, b = table.get((condition, gain.plus)), table.get((condition, gain.minus))
            gains.append(_pct(*mean_se(paired(a, b)), signed=True) if a and b else "-")
        lines.append("| " + " | ".join([condition, *xs, *values, *gains]) + " |")
    seeds = max((len(r.seeds) for r in rows), default=0)
    lines += ["", f"test top-1 %, mean ± standard error over {seeds} seed(s); gains paired by seed"]
    if borrowed:
        lines.append("* a variant this condition does not run, read from another row: " + ", ".join(sorted(borrowed)))
    return "\n".join(lines) + "\n"


def save_study_png(title: str, spec: GridSpec, rows: list[GridRow], path: Path) -> Path:
    """One panel per axis: top-1 against the axis field, a line per variant, references as points."""
    from pevl.eval.plots import pyplot, save_figure

    study = spec.study
    table = cells(study, rows)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(study.axes), figsize=(4.2 * len(study.axes), 3.8), sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, axis in zip(axes[0], study.axes):
        xs = [float(_x(spec, axis.field, c)) for c in axis.conditions]
        span = (max(xs) - min(xs)) or 1.0
        for i, variant in enumerate(study.variants):
            got = [(x, *mean_se(table[c, variant].values)) for x, c in zip(xs, axis.conditions)
                   if (c, variant) in table and table[c, variant].values]
            if not got:
                continue
            x, m, se = zip(*got)
            style = "--" if all(table[c, variant].borrowed for c in axis.conditions[1:] if (c, variant) in table) else "-"
            ax.errorbar(x, [100 * v for v in m], yerr=[0 if math.isnan(e) else 100 * e for e in se], fmt="o" + style,
                        color=colours[i % len(colours)], capsize=3, label=variant)
            for j, ref in enumerate(study.references):
                cell = table.get((ref, variant))
                if cell and cell.values:
                    rm, rse = mean_se(cell.values)
                    ax.errorbar([max(xs) + span * (0.15 + 0.08 * j)], [100 * rm],
                                yerr=[0 if math.isnan(rse) else 100 * rse], fmt="s", mfc="none",
                                color=colours[i % len(colours)], capsize=3)
        for j, ref in enumerate(study.references):
            ax.annotate(ref, (max(xs) + span * (0.15 + 0.08 * j), 0), xycoords=("data", "axes fraction"),
                        xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
        ax.set_xlabel(axis.label)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test top-1 % (mean ± SE)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(plt, fig, path)


def write_study(title: str, spec: GridSpec, rows: list[GridRow], out_dir: Path) -> dict[str, Path]:
    """study.md and study.png in out_dir (nothing when the grid has no study section)."""
    if spec.study is None:
        return {}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    md = Path(out_dir) / "study.md"
    md.write_text(study_markdown(title, spec, rows))
    return {"study": md, "study_chart": save_study_png(title, spec, rows, Path(out_dir) / "study.png")}
