"""A 4-row grid with its rows one at a time vs N at a time (`grid.parallel`), same shards, same seed.

    series    grid.parallel=1: the rows train one after another in this process;
    listed    grid.parallel=N on a pool of N spawned processes (orchestration.task_runner=process),
              each row with train.threads=1, rows started in the grid file's order (grid.order=listed;
              the 4 rows are listed cheapest first, so the longest starts last);
    longest   the same pool, longest rows first (grid.order=longest_first, pevl/grid/cost.py).
Reports the wall time of each mode and each row's test top-1 in all (they must be equal: the same
config and seed give the same weights wherever they train). The data stages run once first, and
each mode retrains every row (`force`). Wall time swings with other load on a shared machine.

    python -m benchmarks.bench_grid [--work DIR] [--parallel 2] [--epochs 3] [--clips-per-class 3] [--demo]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from pevl.console import say, setup_logging

ROOT = Path(__file__).resolve().parents[1]
ROWS = ["video_text_baseline", "plus_pose", "plus_adapter", "plus_ucmr"]


def make_config(work: Path, args: argparse.Namespace):
    """configs/demo.yaml shrunk, on a 4-row cut of the components grid."""
    import yaml

    from schemas import load_config

    spec = yaml.safe_load((ROOT / "configs/ablations/components.yaml").read_text())
    spec["runs"] = [r for r in spec["runs"] if r["name"] in ROWS]
    grid = work / "grid4.yaml"
    work.mkdir(parents=True, exist_ok=True)
    grid.write_text(yaml.safe_dump(spec))
    tiny = [] if args.demo else ["dataset.synth.width=64", "dataset.synth.height=48", "decode.frames=8",
                                 "decode.short_side=32", "model.num_frames=4", "model.image_size=32"]
    return load_config(ROOT / "configs/demo.yaml", [
        f"work_dir={work / 'work'}", f"dataset.root={work / 'raw'}", f"dataset.synth.clips_per_class={args.clips_per_class}",
        *tiny, f"train.epochs={args.epochs}", "train.num_workers=0", "train.threads=1", "tracking.enabled=false",
        f"grid.file={grid}", "orchestration.task_runner=process"])


def run_mode(cfg, parallel: int, order: str = "longest_first") -> tuple[float, dict[str, float]]:
    """Wall seconds of one forced grid run and each row's test top-1."""
    from pevl.grid.stage import run_grid

    cfg = cfg.model_copy(update={"grid": cfg.grid.model_copy(update={"parallel": parallel, "order": order})})
    t0 = time.perf_counter()
    result = run_grid(cfg, force=True)
    seconds = time.perf_counter() - t0
    rows = json.loads((Path(result.output) / "rows.json").read_text())
    return seconds, {r["name"]: r for r in rows}


def main() -> None:
    """Run the data stages once, then the grid in series, in listed order and longest first; print the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default=None, help="folder for data and runs (default: a temp dir)")
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--clips-per-class", type=int, default=3)
    p.add_argument("--demo", action="store_true", help="the demo's clip and model sizes (default: shrunk to seconds)")
    args = p.parse_args()
    setup_logging()
    from pevl.pipeline import DATA_STAGES, run_stages
    from pevl.stages.train import run_evaluate  # noqa: F401 - import cost outside the timings

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-grid-"))
    cfg = make_config(work, args)
    t0 = time.perf_counter()
    run_stages(cfg, DATA_STAGES)
    say(f"data stages: {time.perf_counter() - t0:.1f} s")
    modes = {"series": (1, "listed"), "listed": (args.parallel, "listed"), "longest": (args.parallel, "longest_first")}
    runs = {name: run_mode(cfg, *mode) for name, mode in modes.items()}
    say("| mode | rows at a time | wall s | speed-up vs series |\n|---|---|---|---|")
    for name, (parallel, _) in modes.items():
        say(f"| {name} | {parallel} | {runs[name][0]:.1f} | {runs['series'][0] / runs[name][0]:.2f}x |")
    say("\n| row | " + " | ".join(f"top-1 {m}" for m in modes) + " | " + " | ".join(f"row s {m}" for m in modes)
        + " |\n|" + "---|" * (1 + 2 * len(modes)))
    equal = True
    for row in ROWS:
        tops = [runs[m][1][row]["metrics"]["test/top1"] for m in modes]
        equal &= len(set(tops)) == 1
        say(f"| {row} | " + " | ".join(f"{t:.4f}" for t in tops) + " | "
            + " | ".join(f"{runs[m][1][row]['seconds']:.1f}" for m in modes) + " |")
    say(f"results equal: {'yes' if equal else 'NO'}")


if __name__ == "__main__":
    main()
