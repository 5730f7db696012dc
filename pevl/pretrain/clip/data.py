"""Captioned SynthDive frames for the tiny CLIP: WebDataset tars of (jpg, txt) pairs, as open_clip reads.

Frames go through what the demo's video path does to them (160x120 render, short side 96, square
crop, lossy compression), so the backbone is pretrained on the pictures it will later see. With
crop "person" (the demo configs' `train.crop: person`) the square is the box that follows the diver
(`pevl.data.person_crop.person_boxes` on the renderer's visible joints; side margin drawn per clip
from PERSON_MARGINS, the demo's 1.6 for evaluation), cut from the render and resized to 96. Render
seeds: 1000-1999 for pretraining, 2000-2999 for evaluation; every config in `configs/` renders
with seed 0 or 1, so no pretraining frame comes from a clip a demo trains or tests on.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from pevl.data.person_crop import person_boxes
from pevl.progress import progress
from pevl.synth.captions import caption, frame_states
from pevl.synth.plan import ClipPlan, make_plan
from pevl.synth.render import build_scene, iter_frames, keypoints
from pevl.synth.vocab import dive_classes
from schemas.pretrain import CROPS

log = logging.getLogger(__name__)

RENDER_SIZE = (160, 120)  # the demo configs' synth.width x synth.height
SHORT_SIDE = 96  # the demo configs' decode.short_side
JPEG_QUALITY = 75  # about the blockiness of the demo's mp4v decode at this size
FIXED_MTIME = 0.0  # reproducible tar bytes
# Share of each phase among a clip's sampled frames (a clip spends most of its frames on the board).
PHASE_SHARE = {"on the board": 0.2, "taking off": 0.15, "in flight": 0.4, "entering the water": 0.15,
               "under water": 0.1}
PERSON_MARGINS = (1.3, 2.2)  # crop "person": box side / the clip's joint extent, drawn per training clip
PERSON_EVAL_MARGIN = 1.6  # the demo configs' train.person_margin
PRETRAIN_SEEDS = range(1000, 2000)
EVAL_SEEDS = range(2000, 3000)


@dataclass(frozen=True)
class Pair:
    """One captioned frame: a square RGB crop, its caption and what the caption was written from."""

    key: str
    image: np.ndarray  # (S, S, 3) uint8 RGB, S = SHORT_SIDE
    text: str
    label: int
    clip: int
    frame: int
    state: dict
    joints: np.ndarray  # (17, 3) x, y in [0, 1] of the crop, 1 = visible in it (the renderer's joints)


def plan_clips(clips: int, seed: int) -> list[ClipPlan]:
    """`clips` clips spread over the 48 classes (round robin), from render seed `seed`."""
    per_class = max(2, -(-clips // 48))
    plans = make_plan(list(range(48)), per_class, seed)
    return plans[:clips]


def pick_frames(phases: list[str], count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct frame indices, drawn so that each phase gets about its PHASE_SHARE."""
    phases_arr = np.array(phases)
    weights = np.array([PHASE_SHARE[p] / np.sum(phases_arr == p) for p in phases])
    count = min(count, len(phases))
    return np.sort(rng.choice(len(phases), size=count, replace=False, p=weights / weights.sum()))


def _crop_box(rng: np.random.Generator | None) -> tuple[float, float, float, float]:
    """Square crop of the short-side-96 frame (random offset along the long side; None = centre),
    as a box (x0, y0, w, h) in render pixels."""
    w, h = RENDER_SIZE
    scale = SHORT_SIDE / h
    slack = round(w * scale) - SHORT_SIDE
    off = slack // 2 if rng is None else int(rng.integers(0, slack + 1))
    return off / scale, 0.0, h, h


def _picture(frame_bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Render frame -> short side 96 -> square crop -> JPEG round trip; (S, S, 3) uint8 RGB."""
    h = RENDER_SIZE[1]
    scale = SHORT_SIDE / h
    small = cv2.resize(frame_bgr, (round(RENDER_SIZE[0] * scale), SHORT_SIDE), interpolation=cv2.INTER_AREA)
    x0 = round(box[0] * scale)
    crop = small[:, x0:x0 + SHORT_SIDE]
    return _lossy_rgb(crop)


def _lossy_rgb(crop_bgr: np.ndarray) -> np.ndarray:
    """JPEG round trip at the demo's blockiness; BGR in, (S, S, 3) uint8 RGB out."""
    ok, buf = cv2.imencode(".jpg", crop_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _person_picture(frame_bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Render frame -> the person's square box -> SHORT_SIDE square -> JPEG round trip; (S, S, 3) uint8 RGB."""
    x0, y0, w, h = (int(v) for v in box)
    crop = cv2.resize(frame_bgr[y0:y0 + h, x0:x0 + w], (SHORT_SIDE, SHORT_SIDE), interpolation=cv2.INTER_LINEAR)
    return _lossy_rgb(crop)


def _frame_boxes(scene, rng: np.random.Generator, random_crop: bool, crop: str) -> list[tuple[float, float, float, float]]:
    """The crop box (x0, y0, w, h) in render pixels of every frame of a scene."""
    if crop == "frame":
        return [_crop_box(rng if random_crop else None)] * len(scene.pix)
    margin = float(rng.uniform(*PERSON_MARGINS)) if random_crop else PERSON_EVAL_MARGIN
    w, h = RENDER_SIZE
    return [(b.x0, b.y0, b.w, b.h) for b in person_boxes(keypoints(scene), h, w, margin)]


def crop_joints(joints: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """(K, 3) render-pixel joints -> x, y in [0, 1] of the crop box, visible only when inside it."""
    x0, y0, w, h = box
    x, y = (joints[:, 0] - x0) / w, (joints[:, 1] - y0) / h
    inside = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    return np.stack([x, y, (joints[:, 2] > 0) & inside], axis=-1).astype(np.float32)


def clip_pairs(plan: ClipPlan, frames: int, random_crop: bool, crop: str = "frame") -> list[Pair]:
    """Captioned frames of one planned clip (phase-balanced frame choice, seeded by the plan).

    Args:
        random_crop: draw the crop (training) or take the evaluation one.
        crop: "frame" or "person" (module doc).
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    dive = dive_classes()[plan.label]
    scene = build_scene(dive, plan.seed, RENDER_SIZE, plan.fps, plan.venue_seed)
    rng = np.random.default_rng([*plan.seed, 5])
    boxes = _frame_boxes(scene, rng, random_crop, crop)
    states = frame_states(scene, boxes[0])
    picked = set(pick_frames([s.phase for s in states], frames, rng).tolist())
    picture = _picture if crop == "frame" else _person_picture
    joints = keypoints(scene)
    out = []
    for i, frame in enumerate(iter_frames(scene)):
        if i in picked:
            state = states[i] if crop == "frame" else frame_states(scene, boxes[i])[i]  # framing within its own box
            out.append(Pair(f"{plan.seed[0]:04d}_{plan.index:05d}_{i:03d}", picture(frame, boxes[i]),
                            caption(state), plan.label, plan.index, i, asdict(state),
                            crop_joints(joints[i], boxes[i])))
    return out


def iter_pairs(clips: int, seed: int, frames: int, random_crop: bool = True, crop: str = "frame") -> Iterator[Pair]:
    """Captioned frames of `clips` clips rendered with `seed`, `frames` per clip."""
    for plan in progress(plan_clips(clips, seed), desc="render", unit="clip", leave=False):
        yield from clip_pairs(plan, frames, random_crop, crop)


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def write_shards(out: Path, clips: int, seed: int, frames: int, shard_size: int = 2000, crop: str = "frame") -> dict:
    """Write `clips` x `frames` captioned frames into out/clip-NNNNNN.tar; returns the manifest.

    The manifest (also written as out/manifest.json) holds the counts, the seed, the shard names
    (in open_clip's brace notation under "pattern") and the sha256 of the tars together.
    """
    import webdataset as wds

    if seed not in PRETRAIN_SEEDS:
        raise ValueError(f"pretraining renders use seeds {PRETRAIN_SEEDS.start}-{PRETRAIN_SEEDS.stop - 1}, got {seed}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pattern = str(out / "clip-%06d.tar")
    count, captions = 0, set()
    with wds.ShardWriter(pattern, maxcount=shard_size, verbose=0, mtime=FIXED_MTIME) as sink:
        for pair in iter_pairs(clips, seed, frames, crop=crop):
            meta = {"label": pair.label, "clip": pair.clip, "frame": pair.frame, **pair.state}
            sink.write({"__key__": pair.key, "jpg": _jpeg(pair.image), "txt": pair.text, "json": json.dumps(meta)})
            count += 1
            captions.add(pair.text)
    shards = sorted(out.glob("clip-*.tar"))
    digest = hashlib.sha256()
    for shard in shards:
        digest.update(shard.read_bytes())
    manifest = {"samples": count, "clips": clips, "frames_per_clip": frames, "seed": seed, "crop": crop,
                "distinct_captions": len(captions), "shards": [s.name for s in shards],
                "pattern": str(out / f"clip-{{000000..{len(shards) - 1:06d}}}.tar"), "sha256": digest.hexdigest()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    log.info("wrote %d captioned frames (%d distinct captions) in %d shards to %s", count, len(captions), len(shards), out)
    return manifest


def ensure_shards(out: Path, clips: int, seed: int, frames: int, shard_size: int = 2000, crop: str = "frame") -> dict:
    """The manifest of out's tars when they were written with these parameters and are intact, else write them."""
    path = Path(out) / "manifest.json"
    if path.is_file():
        manifest = json.loads(path.read_text())
        known = (manifest.get("clips"), manifest.get("seed"), manifest.get("frames_per_clip"), manifest.get("crop", "frame"))
        same = known == (clips, seed, frames, crop)
        files = [Path(out) / name for name in manifest.get("shards", [])]
        if same and files and all(f.is_file() for f in files):
            digest = hashlib.sha256()
            for f in files:
                digest.update(f.read_bytes())
            if digest.hexdigest() == manifest["sha256"]:
                log.info("reusing %d captioned frames in %s", manifest["samples"], out)
                return manifest
    for stale in Path(out).glob("clip-*.tar"):
        stale.unlink()
    return write_shards(out, clips, seed, frames, shard_size, crop)
