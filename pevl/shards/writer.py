"""Deterministic WebDataset tar writing: fixed headers and order, temp name, rename when complete.

The same samples in the same order always give byte-identical tars (mtime 0, uid/gid 0, no
user names, mode 0644), so a run killed mid-way and restarted keeps the tars it had finished
(they are what it would write again) and rewrites only the rest. A tar is only ever visible under
its final name once complete: it is written as `<name>.tar.<pid>.tmp` (a name no other process
uses) and renamed.
"""

import io
import logging
import os
import tarfile
from pathlib import Path

log = logging.getLogger("pevl.shards")
TMP_SUFFIX = ".tmp"
_BLOCK = tarfile.BLOCKSIZE


def member_info(name: str, size: int) -> tarfile.TarInfo:
    """A tar header with every field that could vary between runs fixed."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def member_bytes(name: str, size: int) -> int:
    """Bytes one member takes in a GNU tar: header(s) + data padded to 512."""
    header = len(member_info(name, size).tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
    return header + -(-size // _BLOCK) * _BLOCK


class ShardWriter:
    """Write samples to `<folder>/<prefix>-%06d.tar`, a new tar after max_samples or max_bytes.

    Args:
        folder: where the tars go (created).
        prefix: tar name prefix, e.g. "synthdive-train".
        max_samples: samples per tar at most.
        max_bytes: bytes per tar at most (a single larger sample still gets its own tar).
    """

    def __init__(self, folder: Path, prefix: str, max_samples: int, max_bytes: int):
        self.folder, self.prefix = Path(folder), prefix
        self.max_samples, self.max_bytes = max_samples, max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []
        self._tar: tarfile.TarFile | None = None
        self._count = self._bytes = 0
        self._reused = 0

    def _path(self) -> Path:
        return self.folder / self.names[-1]

    def _tmp_path(self) -> Path:
        return self._path().with_name(f"{self._path().name}.{os.getpid()}{TMP_SUFFIX}")

    def _open_next(self) -> None:
        self._close_current()
        self.names.append(f"{self.prefix}-{len(self.names):06d}.tar")
        self._count = self._bytes = 0
        if self._path().exists():
            self._tar = None  # finished by an earlier, interrupted run: identical, keep it
            self._reused += 1
            return
        self._tar = tarfile.open(self._tmp_path(), "w", format=tarfile.GNU_FORMAT)

    def _close_current(self) -> None:
        if self._tar is None:
            return
        self._tar.close()
        os.replace(self._tmp_path(), self._path())
        self._tar = None

    def write(self, key: str, fields: dict[str, bytes]) -> str:
        """Add one sample (`<key>.<ext>` members in the given order). Returns its tar's name."""
        if "." in key or "/" in key or not key:
            raise ValueError(f"sample key {key!r} must be non-empty without dots or slashes")
        size = sum(member_bytes(f"{key}.{ext}", len(data)) for ext, data in fields.items())
        full = self._count >= self.max_samples or (self._count and self._bytes + size > self.max_bytes)
        if not self.names or full:
            self._open_next()
        if self._tar is not None:
            for ext, data in fields.items():
                self._tar.addfile(member_info(f"{key}.{ext}", len(data)), io.BytesIO(data))
            self._tar.members.clear()  # TarFile keeps every header it wrote: memory would grow per sample
        self._count += 1
        self._bytes += size
        return self.names[-1]

    def close(self) -> list[str]:
        """Finish the last tar; returns every tar name written (or kept) in order."""
        self._close_current()
        if self._reused:
            log.info("shards: kept %d complete tar(s) of %s from an interrupted run", self._reused, self.prefix)
        return list(self.names)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        elif self._tar is not None:
            self._tar.close()  # leave the .tmp: never renamed, removed by the next run
