"""SynthDive entry points: generate a dataset, or make sure one with given parameters exists."""

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from schemas import DatasetConfig
from pevl.synth.plan import make_plan
from pevl.synth.vocab import vocab_text
from pevl.synth.writer import default_workers, render_all

log = logging.getLogger(__name__)

# Bump when the generator's output changes, so that ensure_synthdive regenerates cached datasets.
SYNTH_VERSION = 1
MARKER = ".synthdive.json"
LAYOUT = ("Diving48_vocab.json", "Diving48_V2_train.json", "Diving48_V2_test.json", "rgb", "keypoints")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = int(size[0]), int(size[1])
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise ValueError(f"size must be even and at least 32x32 (the video codec needs even sides), got {w}x{h}")
    return w, h


def generate_synthdive(out: Path, clips_per_class: int, seed: int, size: tuple[int, int] = (320, 240),
                       workers: int = 0, test_fraction: float = 0.25, classes: Sequence[int] | None = None,
                       vocab: str = "all") -> dict:
    """Render SynthDive into `out` in Diving48's layout plus keypoints/; returns counts and seconds.

    Args:
        out: dataset folder (created).
        clips_per_class: clips per class, >= 2; round(clips_per_class * test_fraction) of them
            (at least 1, at most clips_per_class - 1) go to the test split.
        seed: same seed, same annotations, keypoints and videos.
        size: (width, height) of the videos, even.
        workers: render processes; 0 = every core this process may use.
        classes: labels to render (default all 48).
        vocab: "all": the vocab file lists all 48 classes and the annotations keep Diving48's labels;
            "rendered": it lists the rendered classes only, relabelled 0..k-1 in label order.
    """
    size = _check_size(size)
    labels = list(range(48)) if classes is None else sorted({int(c) for c in classes})
    if not labels or not all(0 <= c < 48 for c in labels):
        raise ValueError(f"classes must be labels in [0, 48), got {classes}")
    if vocab not in ("all", "rendered"):
        raise ValueError(f"vocab must be 'all' or 'rendered', got {vocab!r}")
    plans = make_plan(labels, clips_per_class, seed, test_fraction)
    out = Path(out)
    (out / "rgb").mkdir(parents=True, exist_ok=True)
    (out / "keypoints").mkdir(exist_ok=True)
    workers = workers or default_workers()
    log.info("rendering %d SynthDive clips at %dx%d with %d workers into %s", len(plans), *size, workers, out)
    start = time.perf_counter()
    results = render_all(plans, out, size, min(workers, len(plans)))
    stale = {p.stem for p in (out / "rgb").glob("*.mp4")} - {r["vid_name"] for r in results}
    if stale:
        log.warning("%s/rgb holds %d videos of an earlier run that the new annotations do not list", out, len(stale))
    rendered = vocab == "rendered"
    entries = json.loads(vocab_text())
    (out / "Diving48_vocab.json").write_text(json.dumps([entries[c] for c in labels]) if rendered else vocab_text())
    label_of = {c: i if rendered else c for i, c in enumerate(labels)}
    for split in ("train", "test"):
        rows = [{"vid_name": r["vid_name"], "label": label_of[r["label"]], "start_frame": r["start_frame"],
                 "end_frame": r["end_frame"]} for r in results if r["split"] == split]
        (out / f"Diving48_V2_{split}.json").write_text(json.dumps(rows))
    seconds = time.perf_counter() - start
    summary = {
        "clips": len(results), "train": sum(r["split"] == "train" for r in results),
        "test": sum(r["split"] == "test" for r in results), "frames": sum(r["num_frames"] for r in results),
        "classes": len(labels), "workers": workers, "seconds": round(seconds, 2),
    }
    log.info("SynthDive: %(clips)d clips (%(train)d train, %(test)d test), %(frames)d frames in %(seconds).1f s", summary)
    return summary


def _params(cfg: DatasetConfig) -> dict:
    """What a generated dataset depends on (not the worker count)."""
    s = cfg.synth
    return {"version": SYNTH_VERSION, "clips_per_class": s.clips_per_class, "seed": s.seed, "width": s.width,
            "height": s.height, "test_fraction": s.test_fraction, "classes": s.classes,
            # only when set: datasets generated before the field existed stay complete
            **({"vocab": s.vocab} if s.vocab != "all" else {})}


def _is_complete(root: Path, params: dict) -> bool:
    marker = root / MARKER
    if not marker.is_file():
        return False
    recorded = json.loads(marker.read_text())
    clips = recorded.pop("clips", -1)
    if recorded != params:
        return False
    return (len(list((root / "rgb").glob("*.mp4"))) == clips
            and len(list((root / "keypoints").glob("*.npy"))) == clips
            and all((root / name).exists() for name in LAYOUT))


def _clear(root: Path) -> None:
    """Remove an earlier SynthDive from root; refuse when root holds anything else."""
    if not root.exists():
        return
    foreign = [p.name for p in root.iterdir() if p.name not in (*LAYOUT, MARKER)]
    if foreign:
        raise RuntimeError(f"{root} holds files that are not SynthDive's ({', '.join(sorted(foreign)[:5])}); "
                           "refusing to overwrite it: point dataset.root at an empty or SynthDive folder")
    for name in (MARKER, *LAYOUT):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def ensure_synthdive(cfg: DatasetConfig) -> Path:
    """Return cfg.root holding a complete SynthDive made with cfg.synth, generating it if needed."""
    if cfg.name != "synthdive":
        raise ValueError(f"ensure_synthdive needs dataset.name 'synthdive', got {cfg.name!r}")
    root = Path(cfg.root).expanduser().resolve()
    params = _params(cfg)
    if _is_complete(root, params):
        log.info("reusing SynthDive in %s", root)
        return root
    _clear(root)
    s = cfg.synth
    summary = generate_synthdive(root, s.clips_per_class, s.seed, (s.width, s.height), s.workers, s.test_fraction,
                                 s.classes, s.vocab)
    (root / MARKER).write_text(json.dumps({**params, "clips": summary["clips"]}, indent=1))
    return root
