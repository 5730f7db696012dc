"""Tar reading that notices a damaged shard: every tar read to its end must hold the samples the
manifest lists for it, and an unreadable tar stops training with an error naming it.

A tar cut between two members reads as a shorter, valid tar: without this check training goes on
with the samples that are left (seen: 24 of 48) and says nothing. A tar cut inside a member
raises from `tarfile`; the error here names the tar and the command that lists every defect.
"""

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pevl.storage.outputs import StageError

log = logging.getLogger("pevl.data")


class ShardError(StageError):
    """A shard tar does not hold what the manifest says; the message names the tar."""

    def __init__(self, message: str):
        # a DataLoader worker's error comes back as "Caught ShardError ... Original Traceback ...":
        # keep only the original one-line message
        if "Original Traceback" in message:
            last = [line for line in message.strip().splitlines() if "ShardError: " in line]
            message = last[-1].split("ShardError: ", 1)[1] if last else message
        super().__init__(message)


def expected_counts(shards: Path, split: str, urls: list[str]) -> dict[str, int] | None:
    """Samples per tar url of one split from manifest.parquet (None when the folder has no manifest).

    ShardError when the tars on disk are not those the manifest lists.
    """
    from pevl.shards.manifest import MANIFEST

    path = Path(shards) / MANIFEST
    if not path.is_file():
        log.debug("no %s in %s: tar sample counts are not checked", MANIFEST, shards)
        return None
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=["shard"]).column("shard").to_pylist()
    counts = Counter(str(Path(shards) / s) for s in column if s.split("/")[0] == split)
    missing, extra = sorted(set(counts) - set(urls)), sorted(set(urls) - set(counts))
    if missing or extra:
        raise ShardError(f"{shards}: split {split!r} tars on disk differ from the manifest "
                         f"(missing {missing[:3]}, not listed {extra[:3]}): run `pevl shards verify {shards}`")
    return dict(counts)


def checked_tar_samples(src: Iterator[dict[str, Any]], expected: dict[str, int] | None,
                        shards: Path) -> Iterator[dict[str, Any]]:
    """webdataset's tarfile_to_samples, one tar at a time: a tar read to its end must yield
    `expected[url]` samples; an unreadable tar raises ShardError naming it."""
    from webdataset.tariterators import tarfile_samples

    for shard in src:
        url, n = shard["url"], 0
        try:
            for sample in tarfile_samples([dict(shard)]):
                n += 1
                yield sample
        except Exception as e:  # noqa: BLE001 - tarfile.ReadError, EOFError, OSError: all mean a damaged tar
            detail = str(e.args[0] if e.args else "").split(" @ ")[0]  # webdataset appends the stream
            raise ShardError(f"{url}: unreadable after {n} samples ({type(e).__name__}: {detail}): "
                             f"the tar is damaged; run `pevl shards verify {shards}`") from None
        if expected is not None and n != expected.get(url):
            raise ShardError(f"{url}: read {n} samples, the manifest lists {expected.get(url)}: the tar is "
                             f"truncated or altered; run `pevl shards verify {shards}`")


def check_epoch(batches: int, steps: int, shards: Path) -> None:
    """ShardError when an epoch got fewer batches than sizes.json promises (`steps`)."""
    if batches < steps:
        raise ShardError(f"the training loader gave {batches} of {steps} batches this epoch: "
                         f"{shards} holds fewer samples than its sizes.json says")
