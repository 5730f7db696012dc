"""Stage output folders: the `_COMPLETE` marker, `config.yaml`, atomic writes, worker counts.

A stage folder is complete when its `_COMPLETE` marker (written last) names the expected config
hash and the tokens of the upstream outputs it was made from. Every completed output gets a fresh
token, so recomputing a stage makes every downstream output stale without touching it. The
marker of a data stage also records its files' sizes and hashes (`pevl.storage.integrity`), checked
when the folder is reused.
"""

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from schemas import PipelineConfig, StageResult, save_config

MARKER = "_COMPLETE"
STARTED = "_STARTED"
log = logging.getLogger("pevl.stages")


class StageError(RuntimeError):
    """A stage cannot run (its input is missing or out of date); the message says what to run."""


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file under a temporary name in the same folder, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a complete stage folder, or None."""
    path = Path(folder) / MARKER
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def current_marker(folder: Path, config_hash: str, inputs: dict[str, str],
                   verify: bool = False) -> dict[str, Any] | None:
    """The marker if the folder is complete for this config hash and these upstream tokens, and its
    files still match what the marker recorded (sizes always, sha256 with `verify`)."""
    from pevl.storage.integrity import check_outputs

    marker = read_marker(folder)
    if not (marker and marker.get("config_hash") == config_hash and marker.get("inputs") == inputs):
        return None
    problems = check_outputs(folder, marker.get("outputs"), verify)
    if problems:
        log.warning("stage %s: the complete output in %s no longer matches its marker (%s%s): recomputing",
                    marker.get("stage", "?"), folder, problems[0],
                    f"; {len(problems) - 1} more" if len(problems) > 1 else "")
        return None
    return marker


def input_token(stage: str, folder: Path, config_hash: str) -> str:
    """The token of a complete upstream output; StageError naming the stage to run otherwise."""
    marker = read_marker(folder)
    if not marker or marker.get("config_hash") != config_hash:
        raise StageError(f"stage {stage!r} has no complete output in {folder}: run it first")
    return str(marker["token"])


def prepare(folder: Path, force: bool, inputs: dict[str, str]) -> None:
    """Make the stage folder ready to (re)compute, keeping per-clip outputs of an interrupted run.

    Starts empty when forced, when a stale complete output is there, or when the interrupted run
    was made from other upstream outputs (its `_STARTED` file records their tokens).
    """
    folder = Path(folder)
    started = folder / STARTED
    stale = (folder / MARKER).exists() or (
        started.exists() and json.loads(started.read_text() or "{}") != inputs
    )
    if force or stale:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(started, json.dumps(inputs, sort_keys=True))


def finish(stage: str, folder: Path, cfg: PipelineConfig, config_hash: str, inputs: dict[str, str],
           counts: dict[str, int], started: float, outputs: dict | None = None) -> StageResult:
    """Write config.yaml then the marker (last, with `outputs`: its files' sizes and hashes)."""
    save_config(cfg, Path(folder) / "config.yaml")
    marker = {"stage": stage, "config_hash": config_hash, "token": uuid.uuid4().hex,
              "inputs": inputs, "counts": counts, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if outputs is not None:
        marker["outputs"] = outputs
    write_atomic(Path(folder) / MARKER, json.dumps(marker, indent=1))
    seconds = time.perf_counter() - started
    log.info("stage %s: done in %.1f s -> %s %s", stage, seconds, folder, counts)
    return StageResult(stage=stage, output=str(folder), config_hash=config_hash, counts=counts,
                       seconds=seconds)


def skipped(stage: str, folder: Path, marker: dict[str, Any]) -> StageResult:
    """The StageResult of a reused output, with a log line saying so."""
    log.info("stage %s: reusing complete output in %s (skipped, nothing recomputed)", stage, folder)
    return StageResult(stage=stage, output=str(folder), config_hash=marker["config_hash"], skipped=True,
                       counts={k: int(v) for k, v in marker.get("counts", {}).items()})


def resolve_workers(workers: int, jobs: int) -> int:
    """Processes to use: `workers` (0 = all cores), never more than the jobs, at least 1."""
    n = workers or os.cpu_count() or 1
    return max(1, min(n, jobs))
