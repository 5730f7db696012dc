"""Tiny datasets written in each dataset's exact on-disk layout, for the data-stage tests.

Videos are a few dozen frames of a moving bright block (cv2 mp4v), so decoding is real and fast.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import yaml

VOCAB = [
    ["Back", "15som", "05Twis", "FREE"],
    ["Forward", "Dive", "NoTwis", "PIKE"],
    ["Inward", "25som", "NoTwis", "TUCK"],
    ["Reverse", "1som", "1Twis", "STR"],
]


def write_video(path: Path, frames: int = 24, size: tuple[int, int] = (64, 48), fps: float = 25.0,
                seed: int = 0) -> Path:
    """An mp4v video of a block moving across a noisy background; frame i has a grey corner patch of level 10 + 6 i."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for i in range(frames):
        frame = background.copy()
        x = int((w - 12) * i / max(1, frames - 1))
        frame[h // 3: h // 3 + 12, x: x + 12] = (255, 255, 255)
        frame[-16:, -16:] = min(255, 10 + 6 * i)  # a grey corner patch encodes the frame index
        writer.write(frame)
    writer.release()
    return path


def write_keypoints(root: Path, vid: str, frames: int, size: tuple[int, int]) -> None:
    """Ground-truth joints (T, 17, 3) in source pixels, as SynthDive writes them."""
    w, h = size
    t = np.arange(frames, dtype=np.float32)[:, None]
    k = np.arange(17, dtype=np.float32)[None, :]
    joints = np.stack([np.broadcast_to(w * 0.2 + t + k, (frames, 17)),
                       np.broadcast_to(h * 0.3 + k, (frames, 17)),
                       np.ones((frames, 17), np.float32)], axis=-1).astype(np.float32)
    (root / "keypoints").mkdir(parents=True, exist_ok=True)
    np.save(root / "keypoints" / f"{vid}.npy", joints)


def write_diving48(root: Path, train: list[dict], test: list[dict], frames: int = 24,
                   size: tuple[int, int] = (64, 48), keypoints: bool = True) -> Path:
    """Diving48 layout: vocab, V2 train/test JSON, rgb/<vid>.mp4 for every safe vid_name (+ keypoints)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Diving48_vocab.json").write_text(json.dumps(VOCAB))
    (root / "Diving48_V2_train.json").write_text(json.dumps(train))
    (root / "Diving48_V2_test.json").write_text(json.dumps(test))
    for i, rec in enumerate(train + test):
        vid = rec.get("vid_name") if isinstance(rec, dict) else None
        if isinstance(vid, str) and "/" not in vid and not (root / "rgb" / f"{vid}.mp4").exists():
            write_video(root / "rgb" / f"{vid}.mp4", frames=frames, size=size, seed=i)
            if keypoints:
                write_keypoints(root, vid, frames, size)
    return root


def record(vid: str, label: int, start: int = 0, end: int = 24) -> dict:
    """One Diving48 annotation record."""
    return {"vid_name": vid, "label": label, "start_frame": start, "end_frame": end}


def good_records(n: int, prefix: str = "clip") -> list[dict]:
    """n valid records with Diving48-like ids (one starting with '-', one with '_')."""
    ids = [f"{prefix}{i:02d}" for i in range(n)]
    if n > 2:
        ids[1], ids[2] = f"-{ids[1]}", f"_{ids[2]}"
    return [record(v, i % len(VOCAB), start=i % 3, end=24 - (i % 2)) for i, v in enumerate(ids)]


def write_config(tmp: Path, root: Path, name: str = "diving48", **sections) -> Path:
    """A pipeline YAML for a tiny run under tmp (ground-truth poses, 1 worker unless given)."""
    data = {
        "work_dir": str(tmp / "work"),
        "dataset": {"name": name, "root": str(root)},
        "decode": {"frames": 4, "short_side": 32, "workers": 1},
        "poses": {"backend": "ground_truth", "workers": 1},
        "shards": {"max_samples": 3},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def write_finegym(root: Path, variant: str = "gym99", fps: float = 25.0) -> Path:
    """FineGym layout: annotation JSON v1.1, split lists, categories, set categories, two raw videos."""
    root.mkdir(parents=True, exist_ok=True)
    write_video(root / "vidAAAAAAA1.mp4", frames=100, size=(64, 48), fps=fps, seed=1)
    write_video(root / "videos" / "vid_B-BBBBB2.mp4", frames=100, size=(64, 48), fps=fps, seed=2)
    annotation = {
        "vidAAAAAAA1": {
            "E_000001_000003": {"event": 1, "timestamps": [[1.0, 3.0]], "segments": {
                "A_0000_0001": {"stages": 3, "timestamps": [[0.2, 0.4], [0.4, 0.8], [0.8, 1.2]]},
                "A_0001_0002": {"stages": 1, "timestamps": [[1.4, 1.8]]},
            }},
            "E_000002_000003": {"event": 2, "timestamps": [[2.0, 3.0]], "segments": None},
        },
        "vid_B-BBBBB2": {
            "E_000000_000002": {"event": 3, "timestamps": [[0.5, 2.5]], "segments": {
                "A_0000_0001": {"stages": 1, "timestamps": [[0.0, 0.6]]},
            }},
        },
    }
    (root / "finegym_annotation_info_v1.1.json").write_text(json.dumps(annotation))
    (root / f"{variant}_categories.txt").write_text(
        "Clabel:   0; set:  1; Glabel:   1; (VT) round-off, flic-flac with 0.5 turn on, stretched salto forward\n"
        "Clabel:   1; set: 21; Glabel:  67; (FX) switch leap with 0.5 turn\n"
        "Clabel:   2; set: 31; Glabel: 207; (BB) sissone (leg separation 180, take off two feet)\n"
    )
    (root / "set_categories.txt").write_text("set:  1; (VT) round-off entry\nset: 21; (FX) leaps\n")
    (root / f"{variant}_train_element_v1.1.txt").write_text(
        "vidAAAAAAA1_E_000001_000003_A_0000_0001 0\n"
        "vidAAAAAAA1_E_000002_000003_A_0000_0001 1\n"  # event without segments
        "vidAAAAAAA1_E_000001_000003_A_0001_0002 7\n"  # label out of range
        "this line is malformed\n"
    )
    (root / f"{variant}_val_element.txt").write_text(
        "vid_B-BBBBB2_E_000000_000002_A_0000_0001 2\n"
        "vidMISSING1_E_000000_000002_A_0000_0001 1\n"  # video not in the annotation file
    )
    return root


def write_haa500(root: Path, classes: dict[str, list[int]], frames: int = 12) -> Path:
    """HAA500 layout: video/<class>/<class>_NNN.mp4 for the given indices per class."""
    for c, (name, indices) in enumerate(classes.items()):
        for i in indices:
            write_video(root / "video" / name / f"{name}_{i:03d}.mp4", frames=frames, seed=c * 100 + i)
    return root


def write_truncated_videos(root: Path, source: Path) -> tuple[str, str]:
    """Two truncated copies of a clip: one cut before its index (moov at the end -> unopenable), one
    written with the index first (faststart) then cut, so it opens but ends early. Returns their ids."""
    import av

    data = source.read_bytes()
    (root / "rgb" / "trunc_tail.mp4").write_bytes(data[: len(data) // 2])
    frames = [np.full((48, 64, 3), 10 + 6 * i, np.uint8) for i in range(24)]
    path = root / "rgb" / "trunc_fast.mp4"
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.5)])
    return "trunc_tail", "trunc_fast"
