"""A contact sheet: one row per class, for classes that differ only in the chosen attributes."""

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pevl.synth.render import build_scene, iter_frames
from pevl.synth.vocab import ATTRIBUTES, DiveClass, dive_classes

log = logging.getLogger(__name__)


def preview_classes(attributes: Sequence[str]) -> list[DiveClass]:
    """The largest group of classes that share every attribute but `attributes`, in label order."""
    unknown = [a for a in attributes if a not in ATTRIBUTES]
    if unknown or not attributes:
        raise ValueError(f"attributes must be some of {', '.join(ATTRIBUTES)}; got {list(attributes)}")
    fixed = [a for a in ATTRIBUTES if a not in attributes]
    groups: dict[tuple, list[DiveClass]] = defaultdict(list)
    for dive in dive_classes():
        groups[tuple(dive.attribute(a) for a in fixed)].append(dive)
    return max(groups.values(), key=len)  # the first of equal-size groups wins: max keeps it


def _crop(frame: np.ndarray, center: np.ndarray, side: int, tile: int) -> np.ndarray:
    """A side x side window around center (clamped to the frame), resized to tile x tile."""
    h, w = frame.shape[:2]
    x0 = int(np.clip(center[0] - side / 2, 0, w - side))
    y0 = int(np.clip(center[1] - side / 2, 0, h - side))
    return cv2.resize(frame[y0:y0 + side, x0:x0 + side], (tile, tile), interpolation=cv2.INTER_AREA)


def _row(dive: DiveClass, seed: int, size: tuple[int, int], frames: int, tile: int) -> np.ndarray:
    """One class: a name panel, the whole first frame, then `frames` close-ups that follow the diver
    from just before takeoff to the entry."""
    scene = build_scene(dive, (seed, 9), size, 30, venue_seed=(seed, 9))
    m = scene.motion
    picks = np.linspace(max(m.takeoff_frame - 6, 0), min(m.entry_frame + 1, scene.num_frames - 1), frames).astype(int)
    video = list(iter_frames(scene))
    side = min(size[1], int(round(1.5 * scene.body.height * scene.camera.scale.mean())))
    center = lambda i: 0.5 * (scene.pix[i].min(axis=0) + scene.pix[i].max(axis=0))  # noqa: E731
    overview = cv2.resize(video[picks[0]], (tile * size[0] // size[1], tile), interpolation=cv2.INTER_AREA)
    tiles = [overview] + [_crop(video[i], center(i), side, tile) for i in picks]
    panel = np.full((tile, 110, 3), 30, np.uint8)
    for k, text in enumerate((f"{dive.label}", dive.takeoff, dive.somersault, dive.twist, dive.position)):
        cv2.putText(panel, text, (6, 18 + k * 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
    return np.hstack([panel, *[cv2.rectangle(t, (0, 0), (t.shape[1] - 1, tile - 1), (0, 0, 0), 1) for t in tiles]])


def write_preview(path: Path, attributes: Sequence[str] = ("takeoff", "position"), seed: int = 0,
                  size: tuple[int, int] = (320, 240), frames: int = 8, tile: int = 112) -> Path:
    """Write a PNG contact sheet of the classes that differ only in `attributes`; returns its path.

    Every row uses the same seed: same diver, colours and venue, so what changes between rows is
    the class. A row shows the first frame whole, then close-ups of the diver from just before
    takeoff to the entry, rendered at `size` and cut to tile x tile pixels.
    """
    dives = preview_classes(attributes)
    log.info("preview of %d classes differing in %s", len(dives), "+".join(attributes))
    rows = [_row(d, seed, size, frames, tile) for d in dives]
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise RuntimeError(f"could not write {path}")
    return path
