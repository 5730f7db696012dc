"""The timeline of a windowed video (PNG): each window's top-1 class and its probability over time.

Top: each window as a line from its start to its end second at the height of its top-1
probability, with a dot at its centre, coloured by its class (one colour per class, named in the
legend); the dashed line is chance, 1 / classes. Bottom: the top-1 class at each moment, the one of
the window whose centre is nearest; rejected windows are grey there.
"""

from pathlib import Path

import numpy as np

from pevl.eval.plots import pyplot, save_figure
from schemas import PredictionRow

REJECTED = "0.6"


def nearest_spans(rows: list[PredictionRow]) -> list[tuple[float, float]]:
    """Per window, the seconds closer to its centre than to any other window's: [(from, to), ...] tiling the video."""
    centres = np.array([(r.start_s + r.end_s) / 2 for r in rows])
    edges = np.concatenate([[min(r.start_s for r in rows)], (centres[1:] + centres[:-1]) / 2,
                            [max(r.end_s for r in rows)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def save_timeline(rows: list[PredictionRow], num_classes: int, path: Path, title: str = "") -> Path:
    """Draw the window rows of one video (in order, start_s and end_s set) as a PNG at `path`."""
    plt = pyplot()
    from matplotlib.patches import Patch

    ok = [r for r in rows if r.status == "ok"]
    names = list(dict.fromkeys(r.top_names[0] for r in ok))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    colour = {name: cmap(i % cmap.N) for i, name in enumerate(names)}
    fig, (ax, strip) = plt.subplots(2, 1, sharex=True, figsize=(10, 3.8 + 0.2 * ((len(names) + 2) // 3)),
                                    gridspec_kw={"height_ratios": [5, 1]})
    for r in ok:
        c = colour[r.top_names[0]]
        ax.hlines(r.top_probs[0], r.start_s, r.end_s, color=c, linewidth=1.5, alpha=0.8)
        ax.plot([(r.start_s + r.end_s) / 2], [r.top_probs[0]], "o", color=c, markersize=4)
    for r, (a, b) in zip(rows, nearest_spans(rows)):
        strip.axvspan(a, b, color=colour[r.top_names[0]] if r.status == "ok" else REJECTED, linewidth=0)
    chance = 1.0 / max(num_classes, 1)
    ax.axhline(chance, color="0.3", linestyle="--", linewidth=1)
    ax.set_ylim(0, min(1.0, 1.15 * max([r.top_probs[0] for r in ok] + [chance])))
    ax.set_ylabel("top-1 probability")
    ax.set_title(title, fontsize=9)
    strip.set_yticks([])
    strip.set_ylabel("top-1", rotation=0, ha="right", va="center")
    strip.set_xlim(min(r.start_s for r in rows), max(r.end_s for r in rows))
    strip.set_xlabel("time in the video (s)")
    handles = [Patch(color=colour[n], label=n) for n in names]
    rejected = sum(r.status == "rejected" for r in rows)
    handles += [Patch(color=REJECTED, label=f"rejected ({rejected})")] if rejected else []
    handles += [plt.Line2D([], [], color="0.3", linestyle="--", label=f"chance (1/{num_classes})")]
    strip.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.9), ncol=3, fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(plt, fig, path)
