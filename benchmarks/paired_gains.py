"""Paired gains of a grid: each row against the row above it, seed by seed, with the standard error.

Reads a grid's `comparison.csv` (one line per row and seed) and prints, per row, the test top-1 of
each seed, the paired differences to the previous row (same seed, same shards), their mean and
standard error (sd / sqrt(seeds)), and a verdict: "helps" or "hurts" when the mean is more than
two standard errors from zero, else "within noise". With one seed there is no paired spread, so
the binomial standard error of the difference of two accuracies on n test clips is used instead
(an upper bound for paired data). Nothing is trained here.

    python -m benchmarks.paired_gains work/demo-grid/grids/<hash>/comparison.csv [--metric test/top1]
"""

import argparse
import csv
import math
import statistics
from pathlib import Path

from pevl.console import say


def read_rows(path: Path, metric: str) -> tuple[dict[str, list[float]], int]:
    """Row name -> metric per seed (in percent, seed order), and the test clip count."""
    rows: dict[str, list[float]] = {}
    clips = 0
    with open(path, newline="") as f:
        for line in csv.DictReader(f):
            rows.setdefault(line["config"], []).append(100.0 * float(line[metric]))
            clips = int(float(line.get("test/num_samples") or 0)) or clips
    return rows, clips


def standard_error(diffs: list[float], a: float, b: float, clips: int) -> float:
    """SE of a mean paired difference: over seeds, or binomial for one seed (accuracies a, b in %)."""
    if len(diffs) > 1:
        return statistics.stdev(diffs) / math.sqrt(len(diffs))
    if clips <= 0:
        return float("nan")
    p, q = a / 100.0, b / 100.0
    return 100.0 * math.sqrt((p * (1 - p) + q * (1 - q)) / clips)


def verdict(mean: float, se: float) -> str:
    """helps / hurts beyond two standard errors, else within noise."""
    if not math.isfinite(se) or abs(mean) <= 2 * se:
        return "within noise"
    return "helps" if mean > 0 else "hurts"


def report(rows: dict[str, list[float]], clips: int) -> list[str]:
    """Markdown lines: per-seed accuracies and paired gains with their standard errors."""
    lines = ["| row | per seed % | mean % | paired Δ per seed | mean Δ ± SE | verdict |", "|---|---|---|---|---|---|"]
    prev: list[float] | None = None
    for name, values in rows.items():
        seeds = " / ".join(f"{v:.1f}" for v in values)
        cells = [name, seeds, f"{statistics.fmean(values):.1f}", "", "", ""]
        if prev is not None and len(prev) == len(values):
            diffs = [v - p for v, p in zip(values, prev)]
            mean = statistics.fmean(diffs)
            se = standard_error(diffs, statistics.fmean(values), statistics.fmean(prev), clips)
            cells[3:] = [" / ".join(f"{d:+.1f}" for d in diffs), f"{mean:+.1f} ± {se:.1f}", verdict(mean, se)]
        lines.append("| " + " | ".join(cells) + " |")
        prev = values
    return lines


def main() -> None:
    """Print the paired-gain table of one comparison.csv."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="a grid's comparison.csv")
    parser.add_argument("--metric", default="test/top1")
    args = parser.parse_args()
    rows, clips = read_rows(args.csv, args.metric)
    for line in report(rows, clips):
        say(line)
    say(f"\n{clips} test clips; SE over seeds (sd / sqrt(n)), or binomial with one seed")


if __name__ == "__main__":
    main()
