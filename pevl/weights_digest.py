"""Content digests of the local weight files a stage reads, so replacing a file at the same path
reruns the stages that used it (the stage hashes otherwise see only the path).

`builtin:<path>` names a file shipped under `pevl/assets/models/` (the embedded backbone and pose
models); it resolves the same way for `model.pretrained` and `poses.rtmlib.*_model`.
"""

import functools
import hashlib
from pathlib import Path

BUILTIN_PREFIX = "builtin:"
LOCAL_DIR_PREFIX = "local-dir:"  # open_clip's prefix for a folder with open_clip_config.json


def builtin_dir() -> Path:
    """The folder `builtin:` specs name: pevl/assets/models/."""
    return Path(__file__).resolve().parent / "assets" / "models"


def resolve_builtin(spec: str) -> str:
    """`builtin:<path>` as an absolute path string; any other spec unchanged."""
    return str(builtin_dir() / spec[len(BUILTIN_PREFIX):]) if spec.startswith(BUILTIN_PREFIX) else spec


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns, st.st_ino)  # cached per (path, size, mtime, inode)


def weights_digest(spec: str | None) -> str | None:
    """sha256 of a local weights file (of every file in a folder); None for hub tags, URLs, None."""
    if not spec:
        return None
    spec = resolve_builtin(spec)
    path = Path(spec[len(LOCAL_DIR_PREFIX):] if spec.startswith(LOCAL_DIR_PREFIX) else spec).expanduser()
    if path.is_file():
        return _file_sha256(path.resolve())
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        joined = "".join(f"{p.relative_to(path)}:{_file_sha256(p.resolve())}" for p in files)
        return hashlib.sha256(joined.encode()).hexdigest()
    return None
