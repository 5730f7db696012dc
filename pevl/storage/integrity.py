"""What a complete stage folder holds, recorded in its marker and checked when it is reused.

Each named file is recorded with its size and sha256; a per-clip folder (`clips/*`) as one group:
file count, total bytes and a sha256 over the sorted (name, sha256) list. Reuse checks sizes and
counts always (a stat per file) and hashes only when asked (`pevl run --verify`).
"""

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _group_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))


def _group_record(folder: Path, pattern: str, hashes: bool) -> dict:
    files = _group_files(folder, pattern)
    record = {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    if hashes:
        digest = hashlib.sha256()
        for p in files:
            digest.update(f"{p.relative_to(folder)}\0{file_sha256(p)}\n".encode())
        record["sha256"] = digest.hexdigest()
    return record


def describe_outputs(folder: Path, files: list[str], groups: tuple[str, ...] = ()) -> dict:
    """{"files": {relpath: {bytes, sha256}}, "groups": {pattern: {files, bytes, sha256}}} of a folder."""
    folder = Path(folder)
    return {
        "files": {f: {"bytes": (folder / f).stat().st_size, "sha256": file_sha256(folder / f)} for f in files},
        "groups": {g: _group_record(folder, g, hashes=True) for g in groups},
    }


def _check_file(folder: Path, name: str, want: dict, verify: bool) -> str | None:
    path = folder / name
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    if size != want["bytes"]:
        return f"{path} has {size} bytes, the marker recorded {want['bytes']}"
    if verify and file_sha256(path) != want["sha256"]:
        return f"{path} differs from its recorded sha256"
    return None


def _check_group(folder: Path, pattern: str, want: dict, verify: bool) -> str | None:
    got = _group_record(folder, pattern, hashes=verify)
    if got["files"] != want["files"] or got["bytes"] != want["bytes"]:
        return (f"{folder / pattern}: {got['files']} files / {got['bytes']} bytes, the marker recorded "
                f"{want['files']} / {want['bytes']}")
    if verify and got["sha256"] != want["sha256"]:
        return f"{folder / pattern}: contents differ from the recorded sha256"
    return None


def check_outputs(folder: Path, outputs: dict | None, verify: bool = False) -> list[str]:
    """Problems of a complete folder against the outputs its marker recorded ([] when it matches)."""
    if not outputs:
        return []  # a marker from before outputs were recorded: nothing to check against
    folder = Path(folder)
    problems = [_check_file(folder, f, want, verify) for f, want in outputs.get("files", {}).items()]
    problems += [_check_group(folder, g, want, verify) for g, want in outputs.get("groups", {}).items()]
    return [p for p in problems if p]
