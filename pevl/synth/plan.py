"""Which clips a SynthDive dataset has: ids, labels, splits, source videos, fps and seeds.

Diving48 cuts many clips from each YouTube video: a clip id is the video's 11-character id, an
underscore and a 5-digit clip number (e.g. `-mmq0PT-u8k_00155`). Here too, clips share source
videos, and clips of one source share its fps and venue.
"""

import string
from dataclasses import dataclass

import numpy as np

ID_ALPHABET = string.ascii_letters + string.digits + "-_"
FPS_CHOICES = (25, 30, 60)
FPS_ODDS = (0.3, 0.5, 0.2)


@dataclass(frozen=True)
class ClipPlan:
    """One clip to render.

    Attributes:
        index: position in the dataset (also the clip's seed word).
        vid_name: Diving48-style id.
        label: class index into the vocab.
        split: "train" or "test".
        fps: frames per second of its source video.
        seed: seed words of the clip; venue_seed: seed words of its source video's venue.
    """

    index: int
    vid_name: str
    label: int
    split: str
    fps: int
    seed: tuple[int, ...]
    venue_seed: tuple[int, ...]


def _source_ids(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct YouTube-like ids; the first two start with '-' and '_' as some real ones do."""
    ids: list[str] = []
    while len(ids) < n:
        chars = rng.choice(list(ID_ALPHABET), size=11)
        if len(ids) < 2:
            chars[0] = "-_"[len(ids)]
        vid = "".join(chars)
        if vid not in ids:
            ids.append(vid)
    return ids


def split_counts(clips_per_class: int, test_fraction: float) -> tuple[int, int]:
    """(train, test) clips per class; at least one in each split."""
    if clips_per_class < 2:
        raise ValueError(f"clips_per_class must be >= 2 so that every class is in both splits, got {clips_per_class}")
    test = min(max(1, round(clips_per_class * test_fraction)), clips_per_class - 1)
    return clips_per_class - test, test


def make_plan(labels: list[int], clips_per_class: int, seed: int, test_fraction: float = 0.25) -> list[ClipPlan]:
    """Plan clips_per_class clips for each label, shuffled, with sources, fps and splits."""
    rng = np.random.default_rng([seed, 0])
    train, test = split_counts(clips_per_class, test_fraction)
    rows = [(label, "test" if k < test else "train") for label in labels for k in range(train + test)]
    order = rng.permutation(len(rows))
    n_sources = max(2, len(rows) // 6)
    sources = _source_ids(rng, n_sources)
    fps = rng.choice(FPS_CHOICES, size=n_sources, p=FPS_ODDS)
    counters = rng.integers(0, 400, size=n_sources)
    plans = []
    for index, row in enumerate(order):
        # Every source gets a clip before any gets a second, so the '-' and '_' ids always appear.
        src = index % n_sources if index < n_sources else int(rng.integers(n_sources))
        counters[src] += rng.integers(1, 12)
        label, split = rows[row]
        plans.append(ClipPlan(index, f"{sources[src]}_{int(counters[src]):05d}", label, split,
                              int(fps[src]), (seed, 1, index), (seed, 2, src)))
    return plans
