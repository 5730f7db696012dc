"""Decoded clips kept in memory between epochs (`train.decode_cache_mb`).

Decoding a stored clip (16 mp4v frames of 128x96) costs about 2-3 ms on one CPU core, about 70% of
the loader's time per sample; on a small CPU where a tiny model trains, the loader decoding the same
clips every epoch is a large share of a run. The cache keeps decoded clips in the process that
decodes them, keyed by a digest of the sample's stored bytes (so a changed or re-written shard never
serves stale frames), up to a byte budget. When the budget is reached it keeps what it holds and
stops adding: under shuffled access an evicting cache would only churn, a fixed subset keeps the
same hit rate every epoch. Memory is bounded by the budget, not by the dataset.

The cache lives in the process that decodes. With `train.num_workers: 0` that is the training
process, which lives for the whole run. Loader workers are started again every epoch, so with
workers the cache lasts one epoch only and saves nothing; `make_train_loader` says so in the log.
Cached arrays are read-only: a transform that wrote into its input would corrupt later epochs.
"""

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

MB = 1 << 20


def sample_digest(sample: dict, fields: tuple[str, ...]) -> bytes:
    """A digest of the stored bytes of `fields` of one raw sample (its cache key)."""
    h = hashlib.blake2b(digest_size=16)
    for name in fields:
        data = sample[name]
        h.update(len(data).to_bytes(8, "little"))
        h.update(data if isinstance(data, (bytes, bytearray, memoryview)) else str(data).encode())
    return h.digest()


@dataclass
class ClipCache:
    """Decoded samples by digest, up to `budget` bytes of arrays.

    Args:
        budget: bytes of frame and pose arrays to hold; 0 holds nothing.
    """

    budget: int
    used: int = 0
    hits: int = 0
    misses: int = 0
    full: bool = False
    items: dict[bytes, tuple] = field(default_factory=dict)

    def get(self, digest: bytes) -> tuple | None:
        """The cached (frames, pose, meta) of a digest, or None."""
        item = self.items.get(digest)
        if item is None:
            self.misses += 1
        else:
            self.hits += 1
        return item

    def put(self, digest: bytes, frames: np.ndarray, pose: np.ndarray, meta: object) -> None:
        """Keep a decoded sample (made read-only) while it fits the budget."""
        size = frames.nbytes + pose.nbytes
        if self.full or self.used + size > self.budget:
            if not self.full and self.budget > 0:
                log.info("decoded-clip cache full at %d clips (%.0f MB of %.0f MB): later clips are decoded "
                         "every epoch", len(self.items), self.used / MB, self.budget / MB)
            self.full = True
            return
        frames.flags.writeable = False
        pose.flags.writeable = False
        self.items[digest] = (frames, pose, meta)
        self.used += size


_CACHE: ClipCache | None = None


def process_cache(budget_mb: int) -> ClipCache | None:
    """This process's cache of `budget_mb` MB (made on first use; a new budget starts it afresh),
    or None when the budget is 0."""
    global _CACHE
    if budget_mb <= 0:
        return None
    if _CACHE is None or _CACHE.budget != budget_mb * MB:
        _CACHE = ClipCache(budget_mb * MB)
    return _CACHE
