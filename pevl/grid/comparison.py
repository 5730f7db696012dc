"""A grid's comparison table and chart: `comparison.md`, `comparison.csv` and `comparison.png`."""

import csv
import io
import statistics
from pathlib import Path

from pevl.grid.changes import SAME_AS_ABOVE, changes_text
from pevl.grid.rows import GridRow

# Columns of the comparison table: (metric key of the evaluate stage, header).
TABLE_METRICS = (("test/top1", "test top-1 %"), ("test/mean_class_acc", "mean class acc %"))


def _fmt(values: list[float]) -> str:
    """Mean in percent, with the standard deviation over seeds when there are several."""
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a value with a | would split the markdown cell


def comparison_markdown(title: str, rows: list[GridRow]) -> str:
    """A markdown table: one line per row, test top-1 and mean class accuracy (mean ± sd over seeds),
    and the fields the row changes from the row above (what it adds) and from the base config."""
    seeds = max((len(r.metrics) for r in rows), default=0)
    head = ["config", *[h for _, h in TABLE_METRICS], "Δ top-1 vs previous", "seeds", "minutes", "data",
            "changes vs previous", "changes vs base"]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    prev = None
    for r in rows:
        top1 = [m.get("test/top1", float("nan")) for m in r.metrics]
        mean = statistics.fmean(top1) if top1 else float("nan")
        delta = "" if prev is None or not top1 else f"{100 * (mean - prev):+.1f}"
        prev = mean if top1 else prev
        seeds_cell = str(len(r.metrics)) + (f" ({len(r.errors)} failed)" if r.errors else "")
        data = "own " + ", ".join(r.data) if r.data else "base"
        cells = [r.name, *[_fmt([m[k] for m in r.metrics if k in m]) if r.metrics or not r.errors else "failed"
                           for k, _ in TABLE_METRICS], delta, seeds_cell, f"{r.seconds / 60:.1f}", data,
                 _cell(changes_text(r.previous, SAME_AS_ABOVE)), _cell(changes_text(r.changes))]
        lines.append("| " + " | ".join(cells) + " |")
    if seeds > 1:
        lines += ["", f"mean ± standard deviation over {seeds} seeds"]
    lines += ["", "changes: the fields a row sets otherwise than the row above (what it adds to it) and than "
                  "the base config, as `--set` takes them"]
    if any(r.data for r in rows):
        lines += ["", "data: base = the base config's shards; own = this row's own outputs of those stages"]
    failures = [f"- {r.name} failed: {e}" for r in rows for e in r.errors]
    lines += ["", *failures] if failures else []
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
