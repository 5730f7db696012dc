"""`pevl shards verify DIR`: check every sample against the schema and the manifest; list each defect."""

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from pevl.shards.manifest import MANIFEST, SIZES, read_manifest
from pevl.shards.reader import FIELDS, decode_sample, iter_tar
from schemas import ManifestRow, SampleMeta

log = logging.getLogger("pevl.shards")


def _check_sample(frames: np.ndarray, pose: np.ndarray, meta: SampleMeta, num_classes: int) -> list[str]:
    """Defects of one decoded sample against its own meta."""
    defects = []
    t, h, w = meta.num_frames, meta.height, meta.width
    if frames.dtype != np.uint8 or frames.shape != (t, h, w, 3):
        defects.append(f"frames {frames.dtype}{tuple(frames.shape)}, meta says uint8({t}, {h}, {w}, 3)")
    if pose.dtype != np.float32 or pose.shape != (t, meta.num_joints, 3):
        defects.append(f"pose {pose.dtype}{tuple(pose.shape)}, meta says float32({t}, {meta.num_joints}, 3)")
    elif not np.isfinite(pose).all():
        defects.append("pose has non-finite values")
    if len(meta.frame_indices) != t:
        defects.append(f"{len(meta.frame_indices)} frame indices for {t} frames")
    if not 0 <= meta.label < num_classes:
        defects.append(f"label {meta.label} out of range [0, {num_classes})")
    return defects


def _check_against_manifest(meta: SampleMeta, key: str, shard: str, row: ManifestRow | None) -> list[str]:
    if row is None:
        return ["not in the manifest"]
    defects = []
    if meta.key != key:
        defects.append(f"meta key {meta.key!r} differs from the tar key")
    if row.shard != shard:
        defects.append(f"manifest puts it in {row.shard}")
    for field in ("clip_id", "split", "label", "num_frames", "height", "width", "num_joints"):
        if getattr(row, field) != getattr(meta, field):
            defects.append(f"{field} {getattr(meta, field)!r} differs from the manifest's {getattr(row, field)!r}")
    if shard.split("/")[0] != meta.split:
        defects.append(f"split {meta.split!r} stored under {shard.split('/')[0]}/")
    return defects


def _check_tar(folder: Path, shard: str, rows: dict[str, ManifestRow], num_classes: int,
               seen: Counter) -> list[str]:
    defects = []
    try:
        for raw in iter_tar(folder / shard):
            key = raw["__key__"].rsplit("/", 1)[-1]
            seen[key] += 1
            where = f"{shard}: {key}"
            extra = sorted(set(raw) - set(FIELDS) - {k for k in raw if k.startswith("__")})
            missing = [f for f in FIELDS if f not in raw]
            if extra or missing:
                defects.append(f"{where}: fields missing {missing} / unexpected {extra}")
                continue
            try:
                frames, pose, meta = decode_sample(raw)
            except Exception as e:
                defects.append(f"{where}: cannot decode: {type(e).__name__}: {e}")
                continue
            problems = _check_sample(frames, pose, meta, num_classes)
            problems += _check_against_manifest(meta, key, shard, rows.get(key))
            defects += [f"{where}: {p}" for p in problems]
    except Exception as e:
        defects.append(f"{shard}: unreadable tar: {type(e).__name__}: {e}")
    return defects


def _check_layout(folder: Path, manifest: list[ManifestRow]) -> list[str]:
    defects = [f"{p.relative_to(folder)}: partial file left behind" for p in folder.rglob("*.tmp")]
    listed = {r.shard for r in manifest}
    on_disk = {str(p.relative_to(folder)) for p in folder.glob("*/*.tar")}
    defects += [f"{s}: tar not in the manifest" for s in sorted(on_disk - listed)]
    defects += [f"{s}: in the manifest but missing" for s in sorted(listed - on_disk)]
    sizes_path = folder / SIZES
    sizes = json.loads(sizes_path.read_text()) if sizes_path.exists() else None
    counts = Counter(r.split for r in manifest)
    if sizes is None:
        defects.append(f"{SIZES}: missing")
    elif {k: v for k, v in sizes.items() if v} != dict(counts):
        defects.append(f"{SIZES}: {sizes} does not match the manifest's {dict(counts)}")
    return defects


def verify_shards(folder: Path) -> tuple[int, list[str]]:
    """Check every sample of a shards folder. Returns (samples seen, defects naming tar and key)."""
    folder = Path(folder)
    if not (folder / MANIFEST).exists():
        return 0, [f"{folder / MANIFEST}: missing (is {folder} a shards folder?)"]
    manifest = read_manifest(folder)
    classes_path = folder / "classes.json"
    num_classes = len(json.loads(classes_path.read_text())) if classes_path.exists() else 0
    defects = [] if num_classes else ["classes.json: missing or empty"]
    defects += _check_layout(folder, manifest)
    rows = {r.key: r for r in manifest}
    if len(rows) != len(manifest):
        defects.append("manifest: duplicate keys")
    seen: Counter = Counter()
    for shard in sorted({r.shard for r in manifest}):
        if (folder / shard).exists():
            defects += _check_tar(folder, shard, rows, num_classes, seen)
    defects += [f"{k}: appears {n} times in the tars" for k, n in sorted(seen.items()) if n > 1]
    defects += [f"{rows[k].shard}: {k}: in the manifest but not in its tar" for k in sorted(set(rows) - set(seen))]
    log.info("verify: %d samples in %s, %d defect(s)", sum(seen.values()), folder, len(defects))
    return sum(seen.values()), defects
