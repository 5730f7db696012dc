"""Dataset adapters: each reads one dataset's real on-disk layout into a `DatasetIndex`."""

import hashlib
from pathlib import Path

from pevl.datasets.common import DatasetError, DatasetIndex, make_key

# folders whose files are annotations (HAA500's annotation is its video/<class>/ listing)
_ANNOTATION_DIRS = (".", "annotations", "categories")


def read_dataset(name: str, root: Path) -> DatasetIndex:
    """Run the adapter of dataset `name` (synthdive, diving48, finegym99, finegym288, haa500) on root."""
    if name in ("diving48", "synthdive"):
        from pevl.datasets.diving48 import read_diving48

        return read_diving48(root, dataset=name)
    if name in ("finegym99", "finegym288"):
        from pevl.datasets.finegym import read_finegym

        return read_finegym(root, variant="gym" + name.removeprefix("finegym"), dataset=name)
    if name == "haa500":
        from pevl.datasets.haa500 import read_haa500

        return read_haa500(root, dataset=name)
    raise DatasetError(f"unknown dataset {name!r}")


def dataset_fingerprint(name: str, root: Path) -> str:
    """A hash of the dataset's annotation files (name, size, mtime), so an edited dataset is re-read."""
    root = Path(root)
    files = [p for d in _ANNOTATION_DIRS if (root / d).is_dir() for p in (root / d).iterdir() if p.is_file()]
    if name == "haa500" and (root / "video").is_dir():
        files += list((root / "video").glob("*/*.mp4"))
    digest = hashlib.sha256()
    for path in sorted(files):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


__all__ = ["DatasetError", "DatasetIndex", "dataset_fingerprint", "make_key", "read_dataset"]
