"""WebDataset shards: deterministic writer, the one reader (`iter_samples`), manifest and verification."""

from pevl.shards.reader import decode_sample, iter_raw, iter_samples, iter_tar, shard_urls
from pevl.shards.writer import ShardWriter

__all__ = ["ShardWriter", "decode_sample", "iter_raw", "iter_samples", "iter_tar", "shard_urls", "verify_shards"]


def verify_shards(folder):
    """Check every sample of a shards folder; see pevl.shards.verify.verify_shards."""
    from pevl.shards.verify import verify_shards as _verify

    return _verify(folder)
