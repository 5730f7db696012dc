"""`pevl doctor`'s checks: what this machine offers the pipeline and what it lacks, each lack with its fix.

Each check is a small function of the `Machine` (the ports, state dir and work dir a user's
servers and runs would use) returning `Check`s: ok, missing or warn, a detail and a fix; required
ones are what `make demo` needs (`doctor_failed`: a required one missing). `run_checks` runs
them all; a check that raises becomes one warn line naming the error, never a traceback.
"""

import glob
import importlib.metadata
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from pevl.services import servers as services

log = logging.getLogger("pevl.doctor")

Status = Literal["ok", "missing", "warn"]
DIST = "pevl-pipeline"
INSTALL = "make install (pip install -e . in the project's virtualenv)"
# (what a user calls it, its distributions (the first is the project's), required, what needs it)
PACKAGES = (("torch", ("torch",), True, "the model"), ("prefect", ("prefect",), True, "the flows"),
            ("mlflow", ("mlflow",), True, "tracking"), ("open_clip", ("open_clip_torch",), True, "the backbone"),
            ("rtmlib", ("rtmlib",), True, "poses.backend=rtmlib"),
            ("onnxruntime", ("onnxruntime", "onnxruntime-gpu"), True, "the rtmlib pose models"),
            ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python",
                        "opencv-contrib-python-headless"), True, "decoding videos"),
            ("PyAV", ("av",), True, "H.264 clips (SynthDive, decode.codec=h264)"),
            ("webdataset", ("webdataset",), True, "the shards"),
            ("ai-edge-litert", ("ai-edge-litert",), False, "poses.backend=blazepose"))
RTMLIB_FIX = ("pip install --no-deps rtmlib==0.0.16 (the Makefile's pin, as `make install` does: "
              "its dependencies break cv2)")
# codec -> (required, what writes it, fix); the decode stage reads every clip back with OpenCV
CODEC_NEEDS = {
    "mp4v": (True, "OpenCV", "an OpenCV wheel with FFmpeg: pip install --force-reinstall opencv-python-headless"),
    "h264": (True, "PyAV's libx264", "PyAV's wheel (it bundles libx264): pip install --force-reinstall av; "
                                     "reading H.264 needs OpenCV's FFmpeg too"),
    "mjpeg": (False, "OpenCV", "an OpenCV wheel with FFmpeg: pip install --force-reinstall opencv-python-headless"),
}
PG_PROGRAMS = ("initdb", "pg_ctl")
PG_DEBIAN = "/usr/lib/postgresql/*/bin"  # where Debian's postgresql package puts them, off PATH
# GiB free: below MIN the demo's clips, shards and checkpoints may not fit (a margin, not a measured
# size); below LOW a warning, as a real dataset needs far more
MIN_FREE_GIB, LOW_FREE_GIB = 2.0, 20.0


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, ok / missing / warn, what was found, how to fix it."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    required: bool = False


@dataclass(frozen=True)
class Machine:
    """Where to look: the servers' ports and state dir, and the work dir runs write to."""

    prefect_port: int = services.PREFECT_PORT
    mlflow_port: int = services.MLFLOW_PORT
    state_dir: Path = Path(".pevl")
    work_dir: Path = Path("work")


def _installed(dists: tuple[str, ...]) -> list[tuple[str, str]]:
    """(distribution, version) of each of `dists` that is installed."""
    found = []
    for dist in dists:
        try:
            found.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def _pins() -> dict[str, object]:
    """The project's pinned requirements by distribution name (packaging Requirements; {} when not installed)."""
    from packaging.requirements import Requirement

    try:
        reqs = [Requirement(r) for r in importlib.metadata.requires(DIST) or []]
    except importlib.metadata.PackageNotFoundError:
        return {}
    return {r.name.lower(): r for r in reqs if not r.marker}


def check_python(machine: Machine) -> list[Check]:
    """The interpreter's version against the project's requires-python."""
    from packaging.specifiers import SpecifierSet

    version = ".".join(map(str, sys.version_info[:3]))
    try:
        wanted = importlib.metadata.metadata(DIST)["Requires-Python"] or ""
    except importlib.metadata.PackageNotFoundError:
        return [Check("python", "warn", f"{version} ({sys.executable}); {DIST} is not installed here", INSTALL)]
    if version in SpecifierSet(wanted):
        return [Check("python", "ok", f"{version} ({sys.executable}), the project wants {wanted}", required=True)]
    return [Check("python", "missing", f"{version}, the project wants {wanted}",
                  f"a Python {wanted}: python3.11 -m venv .venv && make install", required=True)]


def check_packages(machine: Machine) -> list[Check]:
    """Each key package's version, against the project's pin; several OpenCV distributions are a warning."""
    pins = _pins()
    out = []
    for name, dists, required, needed_by in PACKAGES:
        found = _installed(dists)
        if not found:
            fix = RTMLIB_FIX if name == "rtmlib" else INSTALL
            out.append(Check(name, "missing", f"not installed (needed by {needed_by})", fix, required))
            continue
        dist, version = found[0]
        pin = pins.get(dist.lower())
        if len(found) > 1:
            out.append(Check(name, "warn", f"several distributions installed: {', '.join(d for d, _ in found)} "
                             "(they overwrite each other's module)", f"pip uninstall the others, keep {dists[0]}",
                             required))
        elif pin is not None and version not in pin.specifier:
            out.append(Check(name, "warn", f"{dist} {version}, the project pins {pin}", f"pip install '{pin}'",
                             required))
        else:
            out.append(Check(name, "ok", f"{dist} {version}", required=required))
    return out


def _test_clip() -> np.ndarray:
    """8 frames of 64x48: a bright square moving right on a dark background (T, H, W, 3) uint8 RGB."""
    frames = np.full((8, 48, 64, 3), 16, np.uint8)
    for t in range(8):
        frames[t, 16:32, 4 * t + 8: 4 * t + 24] = 230
    return frames


def _codec_line(codec: str, clip: np.ndarray, folder: Path) -> Check:
    """Write `clip` with one codec into `folder` and read it back as the decode stage does."""
    from pevl.shards.codec import decode_clip, encode_clip

    required, writer, fix = CODEC_NEEDS.get(codec, (False, "", ""))
    name, path = f"codec {codec}", folder / f"{codec}.mp4"
    try:
        encode_clip(clip, 8.0, codec, path)
    except Exception as e:  # noqa: BLE001 - the codec's line says why
        return Check(name, "missing", f"{writer} cannot write it: {type(e).__name__}: {e}", fix, required)
    try:
        back = decode_clip(path.read_bytes())
    except Exception as e:  # noqa: BLE001
        return Check(name, "missing", f"written by {writer}, OpenCV cannot read it back: {type(e).__name__}: {e}",
                     fix, required)
    if back.shape != clip.shape:
        return Check(name, "warn", f"read back as {back.shape}, written as {clip.shape}", fix, required)
    return Check(name, "ok", f"written by {writer}, read back by OpenCV ({len(back)} frames of "
                 f"{clip.shape[2]}x{clip.shape[1]})", required=required)


def check_codecs(machine: Machine) -> list[Check]:
    """Write a tiny clip with each codec the decode stage stores (pevl.shards.codec) and read it back."""
    from pevl.shards.codec import CODECS

    with tempfile.TemporaryDirectory(prefix="pevl-doctor-") as tmp:
        return [_codec_line(codec, _test_clip(), Path(tmp)) for codec in CODECS]


def _cuda() -> tuple[bool, str]:
    """(usable, what torch says) about CUDA."""
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda
        return False, f"torch {torch.__version__} " + (f"built for CUDA {built} sees no GPU" if built
                                                       else "is a CPU build")
    names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
    return True, f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): {', '.join(names)}"


def check_accelerators(machine: Machine) -> list[Check]:
    """Whether torch can use CUDA, and onnxruntime's execution providers (CUDA's when torch has a GPU)."""
    import onnxruntime

    usable, detail = _cuda()
    torch_fix = ("only for the GPU presets (the demo trains on CPU): an NVIDIA driver (nvidia-smi) and a CUDA build "
                 "of torch, https://pytorch.org/get-started/locally/")
    out = [Check("torch CUDA", "ok" if usable else "missing", detail, "" if usable else torch_fix)]
    providers = onnxruntime.get_available_providers()
    text = f"onnxruntime {onnxruntime.__version__}: {', '.join(providers)}"
    if usable and "CUDAExecutionProvider" not in providers:
        out.append(Check("onnxruntime providers", "warn", text + " (the GPU is not used for poses)",
                         f"pip install onnxruntime-gpu=={onnxruntime.__version__} in place of onnxruntime"))
    else:
        out.append(Check("onnxruntime providers", "ok", text))
    return out


def _our_server(state: Path, port: int) -> services.Running | None:
    """The pid record of one of our servers that is alive and listens on `port` (read only)."""
    for name in ("prefect", "mlflow"):
        rec = services.read_record(state, name)
        if rec is not None and rec.port == port and services.is_alive(rec):
            return rec
    return None


def _holder(port: int) -> str:
    """Which process listens on a local TCP port: 'pid N (name)', or 'another process' when hidden."""
    import psutil

    try:
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except psutil.Error:
        pass
    return "another process"


def check_ports(machine: Machine) -> list[Check]:
    """Ports 4200 / 5000 (or the chosen ones): free, held by our server, or held by something else."""
    out = []
    for name, port in (("prefect", machine.prefect_port), ("mlflow", machine.mlflow_port)):
        label = f"port {port} ({name})"
        if services.port_is_free(port):
            out.append(Check(label, "ok", "free"))
        elif (rec := _our_server(machine.state_dir, port)) is not None:
            out.append(Check(label, "ok", f"held by pevl's {rec.name} server (pid {rec.pid})"))
        else:
            out.append(Check(label, "warn", f"busy: held by {_holder(port)}, not by pevl's servers",
                             f"stop that process, or use another port: pevl up --{name}-port N "
                             f"(and the same option for pevl demo)"))
    return out


def check_postgres(machine: Machine) -> list[Check]:
    """PostgreSQL's server programs on PATH (a local database for `pevl up --prefect-db/--mlflow-db`)."""
    out = []
    for program in PG_PROGRAMS:
        found = shutil.which(program)
        if found:
            out.append(Check(program, "ok", found))
            continue
        debian = sorted(glob.glob(f"{PG_DEBIAN}/{program}"))
        fix = (f"add {Path(debian[-1]).parent} to PATH" if debian else
               "apt-get install postgresql (only for a local PostgreSQL behind pevl up --prefect-db/--mlflow-db; "
               "SQLite is the default)")
        out.append(Check(program, "missing", "not on PATH", fix))
    return out


def check_disk(machine: Machine) -> list[Check]:
    """Free space on the disk that holds the work dir (its nearest existing folder)."""
    where = machine.work_dir.expanduser().resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free / 2**30
    detail = f"{free:.1f} GiB free under {where}"
    if free < MIN_FREE_GIB:
        return [Check("disk", "missing", detail, f"free space or set work_dir on a larger disk "
                      f"(leave at least {MIN_FREE_GIB:.0f} GiB for the demo)", required=True)]
    if free < LOW_FREE_GIB:
        return [Check("disk", "warn", detail, "enough for the demo; a real dataset needs far more: "
                      "set work_dir on a larger disk", required=True)]
    return [Check("disk", "ok", detail, required=True)]


def check_pose_models(machine: Machine) -> list[Check]:
    """The pose model files fetched from registry packages (`pevl models list`), checked by sha256."""
    from pose_extraction.models import ModelNotFoundError
    from pose_extraction.registry_files import REGISTRY, models_folder, verified_folder

    out = []
    for spec in REGISTRY.values():
        folder = models_folder(spec)
        try:
            verified_folder(spec, folder)
            out.append(Check(f"{spec.name} models", "ok", f"in {folder} (sha256 checked)"))
        except ModelNotFoundError:
            out.append(Check(f"{spec.name} models", "missing", f"not in {folder} (needed by poses.backend={spec.name})",
                             spec.fetch_command))
    return out


def check_servers(machine: Machine) -> list[Check]:
    """Our Prefect and MLflow servers (the state dir's pid records): running and healthy, or not running."""
    out = []
    for name in ("prefect", "mlflow"):
        rec = services.read_record(machine.state_dir, name)
        if rec is None or not services.is_alive(rec):
            out.append(Check(f"{name} server", "ok", f"not running (pevl up starts it; state dir {machine.state_dir})"))
        elif rec.health_url and not services.is_healthy(rec.health_url):
            out.append(Check(f"{name} server", "warn", f"pid {rec.pid} runs but {rec.health_url} does not answer",
                             f"read {rec.log}; restart: pevl down && pevl up"))
        else:
            out.append(Check(f"{name} server", "ok", f"up at {rec.url} (pid {rec.pid}), healthy"))
    return out


CHECKS: tuple[Callable[[Machine], list[Check]], ...] = (
    check_python, check_packages, check_codecs, check_accelerators, check_ports, check_postgres, check_disk,
    check_pose_models, check_servers)


def run_checks(machine: Machine, checks: tuple[Callable[[Machine], list[Check]], ...] | None = None) -> list[Check]:
    """Every check's lines (default: CHECKS), in order; a check that raises becomes one warn line naming its error."""
    out = []
    for check in CHECKS if checks is None else checks:
        name = check.__name__.removeprefix("check_")
        try:
            out += check(machine)
        except Exception as e:  # noqa: BLE001 - a broken check is a line of the report, not a traceback
            log.debug("check %s failed", name, exc_info=True)
            out.append(Check(name, "warn", f"the check failed: {type(e).__name__}: {e}",
                             "pevl -v doctor logs the traceback"))
    return out


def doctor_failed(checks: list[Check]) -> bool:
    """True when something required is missing."""
    return any(c.required and c.status == "missing" for c in checks)


def report_lines(checks: list[Check]) -> list[str]:
    """One aligned line per check: status, name, detail, and the fix where there is one."""
    width = max((len(c.name) for c in checks), default=0)
    return [f"{c.status:<7} {c.name:<{width}}  {c.detail}" + (f"  -> fix: {c.fix}" if c.fix else "")
            + ("" if c.required or c.status == "ok" else "  (optional)") for c in checks]


def report_json(checks: list[Check]) -> dict:
    """The report as a JSON-ready dict: ok (nothing required missing) and every check."""
    return {"ok": not doctor_failed(checks), "checks": [asdict(c) for c in checks]}
