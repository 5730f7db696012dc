"""PNG figures: confusion matrix, grid comparison bar chart, pose overlay with the P2V mask."""

import math
from pathlib import Path

import numpy as np

# COCO-17 limbs for drawing.
COCO_SKELETON = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12),
                 (11, 13), (13, 15), (12, 14), (14, 16), (0, 5), (0, 6))


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt, fig, path: Path) -> Path:
    """Write a figure as PNG (creating the folder) and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_confusion_png(cm: np.ndarray, class_names: list[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true = rows) as a heat map."""
    plt = pyplot()
    c = len(class_names)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = min(24.0, 3.0 + 0.22 * c)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"confusion matrix ({int(cm.sum())} clips, rows normalised)")
    if c <= 60:
        ax.set_xticks(range(c), class_names, rotation=90, fontsize=6)
        ax.set_yticks(range(c), class_names, fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return save_figure(plt, fig, path)


def save_bar_chart(names: list[str], series: dict[str, list[float]], path: Path, title: str = "") -> Path:
    """Grouped bars: one group per run name, one bar per metric series (values in [0, 1] -> %)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) + 2), 4))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(names))
    for i, (label, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, [100 * v for v in values], width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("%")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return save_figure(plt, fig, path)


def save_pose_overlay(video: np.ndarray, pose: np.ndarray, mask: np.ndarray | None, path: Path, frames: int = 4) -> Path:
    """Frames of one clip with its joints, skeleton and (when given) the P2V weighted pose mask.

    Args:
        video: (T, S, S, 3) uint8 model-input frames (after crop/flip).
        pose: (Tp, K, 3) x, y in [0, 1] of the crop, score; Tp = r * T.
        mask: (T, N) patch weights of P2V-R, N a square grid, or None.
    """
    plt = pyplot()
    t_total, size = video.shape[0], video.shape[1]
    ratio = max(1, pose.shape[0] // t_total)
    picks = np.linspace(0, t_total - 1, min(frames, t_total)).round().astype(int)
    fig, axes = plt.subplots(1, len(picks), figsize=(3 * len(picks), 3.2), squeeze=False)
    for ax, t in zip(axes[0], picks):
        ax.imshow(video[t])
        if mask is not None:
            side = int(math.isqrt(mask.shape[1]))
            grid = mask[t][: side * side].reshape(side, side)
            ax.imshow(grid, cmap="magma", alpha=0.45, extent=(-0.5, size - 0.5, size - 0.5, -0.5),
                      interpolation="nearest")
        joints = pose[t * ratio]  # the pose frame the video frame shows
        xy, ok = joints[:, :2] * size - 0.5, joints[:, 2] > 0
        for a, b in COCO_SKELETON:
            if a < len(joints) and b < len(joints) and ok[a] and ok[b]:
                ax.plot(xy[[a, b], 0], xy[[a, b], 1], color="cyan", linewidth=1)
        ax.scatter(xy[ok, 0], xy[ok, 1], s=8, c="yellow")
        ax.set_title(f"frame {t}", fontsize=8)
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        ax.axis("off")
    fig.suptitle("pose input and P2V weighted mask" if mask is not None else "pose input", fontsize=9)
    fig.tight_layout()
    return save_figure(plt, fig, path)
