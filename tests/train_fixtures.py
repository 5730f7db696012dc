"""Shared helpers of the training tests: a tiny config, and real shards written with the shard writer.

The fixture clips are small and class-dependent (a bright square whose quadrant is the class,
with joint 0 on it), written by the data helper's `ShardWriter` + `encode_clip` and completed with
the shard stage's marker, so `run_train` accepts them like the output of `pevl run`.
"""

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from pevl import paths
from schemas import ClassText, PipelineConfig, SampleMeta, load_config

ROOT = Path(__file__).resolve().parents[1]
QUADRANTS = [("top", "left"), ("top", "right"), ("bottom", "left"), ("bottom", "right")]


def tiny_config(tmp_path: Path, overrides: list[str] | None = None) -> PipelineConfig:
    """configs/demo.yaml shrunk to seconds: tiny backbone, 4 frames of 32 px, 2 epochs, CPU."""
    base = [
        f"work_dir={tmp_path / 'work'}", f"dataset.root={tmp_path / 'raw'}", "name=tiny",
        "model.num_frames=4", "model.image_size=32", "model.pretrained=null", "model.pose_frame_ratio=1",
        "poses.backend=ground_truth", "grid.parallel=1", "orchestration.task_runner=thread",
        "train.epochs=2", "train.batch_size=4",
        "train.num_workers=0", "train.warmup_epochs=0.5", "train.log_every=1", "train.shuffle_buffer=8",
        "train.device=cpu", "train.amp=none", "train.lr=0.003", "train.threads=1",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
    ]
    return load_config(ROOT / "configs/demo.yaml", base + list(overrides or []))


def make_client_store(path: Path) -> None:
    """An empty MLflow sqlite store at its latest migration, made as a tracking client makes one."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()


def sqlite_uri(tmp_path_factory, folder: Path) -> str:
    """A fresh MLflow sqlite store in `folder`, copied from a template made once per test run and shared
    by its workers (MLflow's schema migrations take ~5-10 s per new database; a copy opens in ~0.1 s).
    `tmp_path_factory` is unused, kept for the callers."""
    from run_cache import once
    from server_stores import copy_sqlite

    copy_sqlite(once("mlflow-client.db", make_client_store), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module", name="mlflow_uri")
def migrated_mlflow_uri(tmp_path_factory):
    """Fixture `mlflow_uri`: a real `mlflow server` (SQLite, 1 worker, 127.0.0.1) on a pre-migrated store
    (the server skips ~10 s of migrations; tests/server_stores.py), stopped in finally. Import it into a
    test module to use it."""
    from servers import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow-state")) as rec:
        yield rec.url


def fixture_classes() -> list[ClassText]:
    """Four classes with two attributes each (vertical and horizontal half)."""
    return [
        ClassText(label=i, name=f"{v}-{h}", text=f"a square in the {v} {h} corner", phrases=[v, h],
                  attributes={"vertical": v, "horizontal": h})
        for i, (v, h) in enumerate(QUADRANTS)
    ]


def fixture_clip(label: int, rng: np.random.Generator, frames: int = 8, h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A noisy clip with a bright square in the class's quadrant; joint 0 on it, others random."""
    clip = rng.integers(0, 60, size=(frames, h, w, 3), dtype=np.uint8)
    v, hz = QUADRANTS[label]
    pose = np.zeros((frames, 17, 3), dtype=np.float32)
    pose[..., 0] = rng.uniform(0, w - 1, size=(frames, 17))
    pose[..., 1] = rng.uniform(0, h - 1, size=(frames, 17))
    pose[..., 2] = 0.8
    for t in range(frames):
        y = int(rng.integers(4, h // 2 - 4)) + (h // 2 if v == "bottom" else 0)
        x = int(rng.integers(4, w // 2 - 4)) + (w // 2 if hz == "right" else 0)
        clip[t, y - 3 : y + 4, x - 3 : x + 4] = 255
        pose[t, 0] = (x, y, 1.0)
    return clip, pose


def write_fixture_shards(cfg: PipelineConfig, train_per_class: int = 4, test_per_class: int = 2,
                         per_tar: int = 3, seed: int = 0, frames: int = 8) -> Path:
    """Write train/test shards + sizes.json + manifest-free marker where `shards_dir(cfg)` expects them."""
    from pevl.shards.codec import encode_clip
    from pevl.shards.writer import ShardWriter
    from pevl.storage.outputs import finish
    from pevl.storage.tables import write_classes

    rng = np.random.default_rng(seed)
    out = paths.shards_dir(cfg)
    classes = fixture_classes()
    sizes = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        with ShardWriter(out / split, f"fixture-{split}", per_tar, 1 << 24) as writer:
            n = 0
            for i in range(per_class):
                for c in range(len(classes)):
                    key = f"{split}_{c}_{i}"
                    clip, pose = fixture_clip(c, rng, frames)
                    tmp = out / f"{key}.mp4"
                    encode_clip(clip, 25.0, "mp4v", tmp)
                    buf = io.BytesIO()
                    np.save(buf, pose, allow_pickle=False)
                    meta = SampleMeta(key=key, clip_id=key, dataset="synthdive", split=split, label=c,
                                      source=f"{key}.mp4", frame_indices=list(range(frames)), fps=25.0,
                                      height=clip.shape[1], width=clip.shape[2], num_frames=frames,
                                      num_joints=17, pose_backend="fixture", pose_model="fixture")
                    writer.write(key, {"mp4": tmp.read_bytes(), "pose.npy": buf.getvalue(),
                                       "json": meta.model_dump_json().encode()})
                    tmp.unlink()
                    n += 1
        sizes[split] = n
    (out / "sizes.json").write_text(json.dumps(sizes))
    paths.index_dir(cfg).mkdir(parents=True, exist_ok=True)
    write_classes(paths.index_dir(cfg) / "classes.json", classes)
    finish("shard", out, cfg, paths.shards_hash(cfg), {}, sizes, time.perf_counter())
    return out
