"""The one shard reader: WebDataset tars -> (frames, pose, meta), for training, verification and tests."""

import io
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pevl.shards.codec import VIDEO_EXT, decode_clip
from schemas import SampleMeta

POSE_EXT = "pose.npy"
META_EXT = "json"
FIELDS = (VIDEO_EXT, POSE_EXT, META_EXT)

Sample = tuple[np.ndarray, np.ndarray, SampleMeta]


def decode_sample(sample: dict) -> Sample:
    """Decode one raw sample dict as WebDataset yields it ({"__key__", "mp4", "pose.npy", "json"}).

    Returns:
        frames (T, H, W, 3) uint8 RGB, pose (T, K, 3) float32 (x, y in stored-frame pixels, score),
        and the sample's SampleMeta.
    """
    key = sample.get("__key__", "?")
    missing = [f for f in FIELDS if f not in sample]
    if missing:
        raise ValueError(f"sample {key}: missing {', '.join(missing)}")
    meta = SampleMeta.model_validate_json(sample[META_EXT])
    frames = decode_clip(sample[VIDEO_EXT])
    pose = np.load(io.BytesIO(sample[POSE_EXT]), allow_pickle=False)
    return frames, pose, meta


def shard_urls(folder: Path, split: str) -> list[str]:
    """The tars of one split of a shards folder, sorted."""
    return sorted(str(p) for p in (Path(folder) / split).glob("*.tar"))


def iter_tar(path: str | Path) -> Iterator[dict]:
    """Raw sample dicts of one local tar, grouped as WebDataset groups them, without importing torch.

    Members are grouped by key (the name up to the first dot of its basename) while consecutive;
    used by `verify`, which must not need the training stack.
    """
    current: dict | None = None
    with tarfile.open(path, "r|") as tar:
        for member in tar:
            if not member.isreg():
                continue
            folder, _, base = member.name.rpartition("/")
            stem, dot, ext = base.partition(".")
            key = f"{folder}/{stem}" if folder else stem
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key, "__url__": str(path)}
            if not dot:
                raise ValueError(f"{path}: member {member.name!r} has no extension")
            current[ext] = tar.extractfile(member).read()
            tar.members.clear()  # streaming: do not keep every header read
    if current is not None:
        yield current


def iter_raw(urls: str | Path | Sequence[str | Path]) -> Iterator[dict]:
    """Raw sample dicts from tars (a path, a brace pattern, or a list) through WebDataset,
    split by node (distributed rank) and by DataLoader worker."""
    import webdataset as wds

    if isinstance(urls, (str, Path)):
        urls = [str(urls)]
    urls = [str(u) for u in urls]
    if not urls:
        return iter(())
    dataset = wds.WebDataset(
        urls if len(urls) > 1 else urls[0], shardshuffle=False, empty_check=False,
        nodesplitter=wds.split_by_node, workersplitter=wds.split_by_worker,
    )
    return iter(dataset)


def iter_samples(urls: str | Path | Sequence[str | Path]) -> Iterator[Sample]:
    """Yield (frames (T, H, W, 3) uint8 RGB, pose (T, K, 3) float32, SampleMeta) from shard tars.

    In a DataLoader worker or a distributed rank, each gets its own subset of the tars.
    """
    for sample in iter_raw(urls):
        yield decode_sample(sample)
