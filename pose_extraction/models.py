"""Resolve a pose model given as an rtmlib hub URL, a shipped model or a local .onnx file to a local .onnx path.

A spec `builtin:<path>` names a model shipped with the package, under `pevl/assets/models/`
(e.g. `builtin:pose/synthdive_det.onnx`, the SynthDive-trained stand-ins of pevl/assets/models/pose/).
"""

import importlib.util
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"


class ModelNotFoundError(FileNotFoundError):
    """A pose model is neither on disk nor downloadable; the message says where to put it."""


def is_url(spec: str) -> bool:
    """True when a model spec is an http(s) URL (an rtmlib hub model) rather than a local path."""
    return urlparse(spec).scheme in ("http", "https")


def rtmlib_cache_dir() -> Path:
    """rtmlib's checkpoint folder: $TORCH_HOME/hub/checkpoints if set, else $XDG_CACHE_HOME/rtmlib/hub/checkpoints.

    Mirrors rtmlib 0.0.16 (`rtmlib.tools.file._get_rtmhub_dir`), whose default is ~/.cache/rtmlib.
    """
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        hub = Path(torch_home)
    else:
        hub = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "rtmlib"
    return (hub / "hub" / "checkpoints").expanduser()


def cached_onnx_name(url: str) -> str:
    """The file name rtmlib gives a hub model once extracted: the URL's file name up to its first dot + .onnx."""
    filename = os.path.basename(urlparse(url).path)
    return filename.split(".")[0] + ".onnx"


def model_name(spec: str) -> str:
    """A short, readable model name for records: the file stem of a URL or a local path."""
    return cached_onnx_name(spec)[: -len(".onnx")] if is_url(spec) else Path(spec).stem


def builtin_models_dir() -> Path:
    """The folder `builtin:` specs name: pevl/assets/models/, found without importing pevl."""
    found = importlib.util.find_spec("pevl")
    if found is None or not found.submodule_search_locations:
        raise ModelNotFoundError("builtin: pose models need the pevl package, which is not installed")
    return Path(list(found.submodule_search_locations)[0]) / "assets" / "models"


def resolve_model(spec: str, download: bool = True) -> Path:
    """A local .onnx path for `spec` (URL looked up in rtmlib's cache, then downloaded if allowed).

    Raises ModelNotFoundError naming the file and the folder to put it in when it is missing
    and cannot be fetched (offline machine, or `download=False`).
    """
    if spec.startswith(BUILTIN_PREFIX):
        return _local_model(str(builtin_models_dir() / spec[len(BUILTIN_PREFIX):]))
    if not is_url(spec):
        return _local_model(spec)
    folder = rtmlib_cache_dir()
    cached = folder / cached_onnx_name(spec)
    if cached.is_file():
        return cached
    if not download:
        raise ModelNotFoundError(_missing_message(spec, cached, "downloads are off (poses.rtmlib.download=false)"))
    return _download(spec, cached)


def _local_model(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"pose model {spec!r} is neither an http(s) URL nor a .onnx file")
    if not path.is_file():
        raise ModelNotFoundError(f"pose model file not found: {path.resolve()}")
    return path.resolve()


def _download(url: str, cached: Path) -> Path:
    from rtmlib.tools.file import download_checkpoint  # rtmlib imports onnx-free pieces only here

    log.info("pose model %s not in %s: downloading %s", cached.name, cached.parent, url)
    try:
        path = Path(download_checkpoint(url, dst_dir=str(cached.parent)))
    except OSError as err:  # URLError, timeouts and refused connections are all OSErrors
        raise ModelNotFoundError(_missing_message(url, cached, f"download failed: {err}")) from err
    if not path.is_file():
        raise ModelNotFoundError(_missing_message(url, cached, f"rtmlib returned {path}, which does not exist"))
    return path


def _missing_message(url: str, cached: Path, why: str) -> str:
    return (
        f"pose model {cached.name} is not in rtmlib's cache and {why}.\n"
        f"  On a connected machine download {url}, unzip it, and copy its end2end.onnx to\n"
        f"    {cached}\n"
        f"  (folder {cached.parent}; set XDG_CACHE_HOME or TORCH_HOME to move it),\n"
        f"  or give the model as a local .onnx path in the config."
    )
