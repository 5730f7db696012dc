"""The scale curves of docs/scaling.md from `benchmarks/bench_scale.py`'s scale.json.

    python scripts/scale_plot.py work/bench-scale/scale.json [--out docs/images/scaling.png]

Left: CPU ms per clip of each data stage against the number of clips (flat = cost grows with the
work, no faster), through the Prefect flow (solid) and without Prefect (dashed). Right: peak RSS of
the flow (or `pevl run`) process and of the Prefect server.
"""

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("pevl.scripts")
STAGES = ("ingest", "decode", "poses", "shard")


def plot(results: list[dict], out: Path) -> Path:
    """Draw both panels into `out` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = [r["clips"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, stage in enumerate(STAGES):
        color = f"C{i}"
        for mode, style in (("prefect", "-"), ("plain", "--")):
            if all(mode in r for r in results):
                left.plot(clips, [r[mode]["stages"][stage]["cpu_ms_per_clip"] for r in results], style, marker="o",
                          color=color, label=f"{stage} ({'Prefect flow' if mode == 'prefect' else 'pevl run'})")
    left.set(xscale="log", xlabel="clips", ylabel="CPU ms per clip (whole process tree)",
             title="Cost per clip as the dataset grows")
    left.legend(fontsize=7, ncol=2)
    for mode, style in (("prefect", "-"), ("plain", "--")):
        if all(mode in r for r in results):
            right.plot(clips, [r[mode]["peak_rss_mb"]["main"] for r in results], style, marker="o", color="C0",
                       label=f"{'flow' if mode == 'prefect' else 'pevl run'} process")
    if all("prefect" in r for r in results):
        right.plot(clips, [r["prefect"]["peak_rss_mb"].get("server", 0) for r in results], "-", marker="s",
                   color="C3", label="Prefect server")
    right.set(xscale="log", xlabel="clips", ylabel="peak RSS, MB", title="Memory", ylim=(0, None))
    right.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scale_json", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images" / "scaling.png")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("wrote %s", plot(json.loads(args.scale_json.read_text()), args.out))


if __name__ == "__main__":
    main()
