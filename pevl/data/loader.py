"""WebDataset input pipelines: a resampled, shuffled, augmented training stream and a fixed eval pass.

Training: shards are resampled with a seed fixed by (config seed, epoch), the infinite URL
stream is split explicitly by node and by worker, samples pass a shuffle buffer, then each clip
gets segment-based frame sampling and one random resized crop + flip shared by frames and joints
(or, with `train.crop: person`, a box following the tracked person, `person_crop.py`).
An epoch is `steps_per_epoch(sizes.json)` batches on every rank, so DDP ranks stay in step, and
an epoch started again (after a resume) sees the same batches.

Evaluation: every sample exactly once over all ranks and workers, in shard order, centre
frames of each segment and a centre crop (or clips x crops views). Batches stay uint8 until
`to_model_inputs` normalises them on the device.

Both read tars through `checked_tar_samples`: a tar read to its end must hold the samples the
manifest lists, so a truncated shard stops training with an error naming it.
"""

import json
import logging
import math
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pevl.data.checked_tars import checked_tar_samples, expected_counts
from pevl.data.clip_cache import process_cache, sample_digest
from pevl.data.person_crop import crop_person, person_boxes
from pevl.data.transforms import aligned_indices, centre_crop_boxes, crop_frames, crop_pose, random_crop_box
from schemas import ConfigError, PipelineConfig

log = logging.getLogger(__name__)


def read_sizes(shards: Path) -> dict[str, int]:
    """Samples per split from shards/sizes.json."""
    return {k: int(v) for k, v in json.loads((Path(shards) / "sizes.json").read_text()).items()}


def split_urls(shards: Path, split: str) -> list[str]:
    """The tar files of one split, sorted."""
    urls = sorted(str(p) for p in (Path(shards) / split).glob("*.tar"))
    if not urls:
        raise FileNotFoundError(f"no shards for split {split!r} under {shards}")
    return urls


def steps_per_epoch(num_samples: int, batch_size: int, world: int) -> int:
    """Batches each rank takes per epoch so that all ranks together see about one pass."""
    return max(1, math.ceil(num_samples / (batch_size * world)))


def _worker_id() -> tuple[int, int]:
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def _decode(src: Iterator[dict[str, Any]], cache_mb: int = 0) -> Iterator[dict[str, Any]]:
    """Raw webdataset sample dicts -> {frames, pose, meta} via the shard reader, through this
    process's decoded-clip cache when `cache_mb` > 0 (`clip_cache.py`)."""
    from pevl.shards.reader import FIELDS, decode_sample

    cache = process_cache(cache_mb)
    for raw in src:
        digest = sample_digest(raw, FIELDS) if cache is not None and all(f in raw for f in FIELDS) else None
        item = cache.get(digest) if digest is not None else None
        if item is None:
            item = decode_sample(raw)
            if digest is not None:
                cache.put(digest, *item)
        frames, pose, meta = item
        yield {"frames": frames, "pose": pose, "label": meta.label, "key": meta.key}


def _augment(src: Iterator[dict], cfg: PipelineConfig, seed: tuple[int, ...]) -> Iterator[dict]:
    """Training view: random segment frames, random resized crop + flip (frames and joints alike)."""
    m, t = cfg.model, cfg.train
    rng = np.random.default_rng([*seed, *_worker_id()])
    for s in src:
        frames, pose = s["frames"], s["pose"]
        vid_idx, pose_idx = aligned_indices(len(frames), m.num_frames, m.pose_frame_ratio, None, rng)
        if t.crop == "person":
            boxes = person_boxes(pose, frames.shape[1], frames.shape[2], t.person_margin, t.person_jitter, rng)
            flip = bool(rng.random() < t.flip_prob)
            video, joints = crop_person(frames, pose, vid_idx, pose_idx, boxes, m.image_size, flip)
        else:
            box = random_crop_box(frames.shape[1], frames.shape[2], t.crop_scale, t.crop_ratio, rng)
            flip = bool(rng.random() < t.flip_prob)
            video, joints = crop_frames(frames[vid_idx], box, m.image_size, flip), crop_pose(pose[pose_idx], box, flip)
        yield {
            "video": video,
            "pose": joints,
            "label": s["label"],
            "key": s["key"],
        }


def check_views(cfg: PipelineConfig, clips: int, crops: int) -> None:
    """ConfigError unless `clips` x `crops` evaluation views fit the model (a person crop has one view per clip)."""
    if clips < 1 or crops < 1:
        raise ConfigError(f"{clips} clips x {crops} crops: both must be at least 1")
    if cfg.train.crop == "person" and crops != 1:
        raise ConfigError(f"{crops} spatial crops asked of a model trained with train.crop=person (its view follows "
                          "the person): evaluate it with 1 crop")


def eval_views(frames: np.ndarray, pose: np.ndarray, cfg: PipelineConfig, clips: int, crops: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic views: `clips` frame offsets x `crops` square crops (or the person's boxes).

    Args:
        frames: (T_store, H, W, 3) uint8; pose: (T_store, K, 3) stored-frame pixels.
    Returns:
        video (V, T, S, S, 3) uint8 and pose (V, Tp, K, 3) crop coordinates, V = clips * crops.
    """
    m, t = cfg.model, cfg.train
    check_views(cfg, clips, crops)
    videos, poses = [], []
    person = None
    if t.crop == "person":
        person = person_boxes(pose, frames.shape[1], frames.shape[2], t.person_margin)
    for c in range(clips):
        vid_idx, pose_idx = aligned_indices(len(frames), m.num_frames, m.pose_frame_ratio, (c + 0.5) / clips, None)
        if person is not None:
            video, joints = crop_person(frames, pose, vid_idx, pose_idx, person, m.image_size, False)
            videos.append(video)
            poses.append(joints)
            continue
        for box in centre_crop_boxes(frames.shape[1], frames.shape[2], crops):
            videos.append(crop_frames(frames[vid_idx], box, m.image_size, False))
            poses.append(crop_pose(pose[pose_idx], box, False))
    return np.stack(videos), np.stack(poses)


def _eval_transform(src: Iterator[dict], cfg: PipelineConfig, clips: int, crops: int) -> Iterator[dict]:
    for s in src:
        video, pose = eval_views(s["frames"], s["pose"], cfg, clips, crops)
        yield {"video": video, "pose": pose, "label": s["label"], "key": s["key"]}


def collate(samples: list[dict]) -> dict[str, Any]:
    """Stack samples into uint8 video, float32 pose, int64 labels and a list of keys."""
    import torch

    return {
        "video": torch.from_numpy(np.stack([s["video"] for s in samples])),
        "pose": torch.from_numpy(np.stack([s["pose"] for s in samples])),
        "label": torch.tensor([s["label"] for s in samples], dtype=torch.int64),
        "key": [s["key"] for s in samples],
    }


def _identity(src: Iterator) -> Iterator:
    return src


def _same_stream() -> int:
    return 0


def _every_nth(src: Iterator, n: int, i: int) -> Iterator:
    for j, item in enumerate(src):
        if j % n == i:
            yield item


def _data_loader(pipeline: Any, workers: int, pin: bool) -> Any:
    import torch

    return torch.utils.data.DataLoader(
        pipeline, batch_size=None, num_workers=workers, pin_memory=pin and torch.cuda.is_available(),
        persistent_workers=False,
    )


def make_train_loader(cfg: PipelineConfig, shards: Path, epoch: int, rank: int = 0, world: int = 1) -> tuple[Any, int]:
    """The training DataLoader of one epoch and its number of batches per rank.

    Batches: video (B, T, S, S, 3) uint8, pose (B, Tp, K, 3) float32, label (B,), key list.
    """
    import webdataset as wds

    t = cfg.train
    steps = steps_per_epoch(read_sizes(shards)["train"], t.batch_size, world)
    workers = t.num_workers
    if workers and t.decode_cache_mb and epoch == 0:
        log.warning("train.decode_cache_mb=%d with train.num_workers=%d: loader workers start again every epoch, "
                    "so their decoded clips are not kept; set num_workers 0 to keep them", t.decode_cache_mb, workers)
    seed = (cfg.seed, epoch)
    urls = split_urls(shards, "train")
    pipeline = wds.DataPipeline(
        # same URL stream on every rank and worker; the splitters give each a disjoint slice
        wds.ResampledShards(urls, seed=cfg.seed * 100_003 + epoch, worker_seed=_same_stream, deterministic=True),
        partial(_every_nth, n=world, i=rank),  # node split by the explicit rank
        wds.split_by_worker,
        partial(checked_tar_samples, expected=expected_counts(shards, "train", urls), shards=shards),
        wds.shuffle(t.shuffle_buffer, initial=t.shuffle_buffer, seed=cfg.seed * 7919 + epoch * 31 + rank)
        if t.shuffle_buffer > 1 else _identity,
        partial(_decode, cache_mb=t.decode_cache_mb),
        partial(_augment, cfg=cfg, seed=(*seed, rank)),
        wds.batched(t.batch_size, collation_fn=collate, partial=False),
    ).with_epoch(math.ceil(steps / max(1, workers)))
    return _data_loader(pipeline, workers, t.pin_memory), steps


def make_eval_loader(
    cfg: PipelineConfig, shards: Path, split: str, rank: int = 0, world: int = 1, clips: int = 1, crops: int = 1
) -> Any:
    """A DataLoader over every sample of `split` once across ranks; video (B, V, T, S, S, 3) uint8."""
    import webdataset as wds

    t = cfg.train
    urls = split_urls(shards, split)
    by_shard = len(urls) >= world
    mine = urls[rank::world] if by_shard else urls
    workers = min(t.num_workers, len(mine))
    pipeline = wds.DataPipeline(
        wds.SimpleShardList(mine),
        wds.split_by_worker,
        partial(checked_tar_samples, expected=expected_counts(shards, split, urls), shards=shards),
        # fewer shards than ranks: every rank reads all and keeps every world-th sample
        _identity if by_shard else partial(_every_nth, n=world, i=rank),
        partial(_decode, cache_mb=t.decode_cache_mb),
        partial(_eval_transform, cfg=cfg, clips=clips, crops=crops),
        wds.batched(t.eval_batch_size or t.batch_size, collation_fn=collate, partial=True),
    )
    return _data_loader(pipeline, workers, t.pin_memory)


def to_model_inputs(batch: dict[str, Any], device: Any) -> tuple[Any, Any, Any]:
    """Move a batch to the device and CLIP-normalise its frames there.

    Args:
        batch: video (..., T, S, S, 3) uint8, pose (..., Tp, K, 3), label (B,).
    Returns:
        video (..., T, 3, S, S) float32 CLIP-normalised, pose (..., Tp, K, 3), label (B,).
    """
    from pevl.clip_norm import normalise

    video = batch["video"].to(device, non_blocking=True)
    video = normalise(video.movedim(-1, -3).float().div_(255.0))  # (..., T, 3, S, S)
    return video, batch["pose"].to(device, non_blocking=True), batch["label"].to(device, non_blocking=True)
