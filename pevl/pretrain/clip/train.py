"""Pretrain the tiny CLIP: captioned SynthDive tars -> open_clip_train (CPU) -> shipped weights (fp32).

`pretrain_clip` is the whole job: write the data (data.py), run open_clip's own trainer in a
child process (openclip.py) with a progress bar read from its log lines, and save the last
checkpoint as a plain fp32 state dict beside a JSON record of the resolved config, seeds, data hash,
trainer command, times and file hash.
"""

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from pevl.pretrain.clip.data import ensure_shards
from pevl.pretrain.clip.model import load_trainer_checkpoint, save_weights
from pevl.pretrain.clip.timing import cpu_seconds
from pevl.progress import progress
from schemas.pretrain import ClipPretrainConfig

log = logging.getLogger(__name__)

STEP_LINE = re.compile(r"Train Epoch: (\d+) \[\s*(\d+)/(\d+)")


def trainer_argv(cfg: ClipPretrainConfig, manifest: dict, logs: Path) -> list[str]:
    """open_clip_train's command line for cfg over the tars of `manifest`."""
    return [
        "--train-data", manifest["pattern"], "--train-num-samples", str(manifest["samples"]),
        "--dataset-type", "webdataset", "--model", cfg.model, "--batch-size", str(cfg.batch_size),
        "--epochs", str(cfg.epochs), "--lr", str(cfg.lr), "--wd", str(cfg.wd), "--warmup", str(cfg.warmup),
        "--workers", str(cfg.workers), "--precision", "fp32", "--device", "cpu", "--seed", str(cfg.seed),
        "--logs", str(logs), "--name", "run", "--log-every-n-steps", "1", "--save-frequency", "1",
        "--zeroshot-frequency", "0", "--aug-cfg", f"scale=({cfg.crop_scale[0]},{cfg.crop_scale[1]})",
    ]


def run_trainer(argv: list[str], threads: int, log_file: Path, total_samples: int) -> None:
    """Run open_clip_train in a child process; a progress bar follows its step lines.

    Raises:
        RuntimeError: the trainer failed (the message names its log file and last lines).
    """
    env = {**os.environ, "PEVL_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pevl.pretrain.clip.openclip", *argv]
    log.info("open_clip_train: %s", " ".join(cmd[1:]))
    tail: list[str] = []
    done = 0
    with open(log_file, "w", buffering=1) as sink, progress(total=total_samples, desc="pretrain clip", unit="pair") as bar:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sink.write(line)
                tail = (tail + [line.rstrip()])[-8:]
                m = STEP_LINE.search(line)
                if m:
                    epoch, seen, per_epoch = (int(g) for g in m.groups())
                    now = epoch * per_epoch + seen
                    bar.update(max(0, now - done))
                    done = max(done, now)
                    bar.set_postfix(loss=line.rsplit("Loss:", 1)[-1].split()[0] if "Loss:" in line else "?")
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted: do not leave the trainer running
                proc.terminate()
                proc.wait()
    if code != 0:
        raise RuntimeError(f"open_clip_train exited with {code} (log {log_file}):\n" + "\n".join(tail))


def pretrain_clip(cfg: ClipPretrainConfig, work: Path, weights: Path) -> dict:
    """Render the data, train, and write `weights` (state dict) plus `weights`.json; returns the record."""
    import open_clip

    work, weights = Path(work), Path(weights)
    start, cpu0 = time.perf_counter(), cpu_seconds()
    manifest = ensure_shards(work / "data", cfg.clips, cfg.render_seed, cfg.frames_per_clip, cfg.shard_size, cfg.crop)
    render_s = time.perf_counter() - start
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = trainer_argv(cfg, manifest, logs)
    run_trainer(argv, cfg.threads, work / "trainer.log", manifest["samples"] * cfg.epochs)
    state = load_trainer_checkpoint(logs / "run" / "checkpoints" / f"epoch_{cfg.epochs}.pt")
    digest = save_weights(state, weights)
    record = {
        "config": cfg.model_dump(), "data": {k: v for k, v in manifest.items() if k not in ("shards", "pattern")},
        "trainer": {"package": "open_clip_train", "version": open_clip.__version__,
                    "command": ["python", "-m", "pevl.pretrain.clip.openclip",
                                *(a.replace(str(work), "<work_dir>") for a in argv)]},
        "seconds": {"render": round(render_s, 1), "total": round(time.perf_counter() - start, 1),
                    "cpu": round(cpu_seconds() - cpu0, 1)},
        "weights": {"file": weights.name, "sha256": digest, "bytes": weights.stat().st_size, "dtype": "float32"},
    }
    weights.with_suffix(".json").write_text(json.dumps(record, indent=1))
    log.info("pretrained %s in %.0f s (%.0f CPU s): %s", cfg.model, record["seconds"]["total"],
             record["seconds"]["cpu"], weights)
    return record


def pretrain(cfg: ClipPretrainConfig, work: Path, weights: Path) -> dict:
    """Pretrain with open_clip_train, or with the dense trainer (`dense.py`) when cfg.joint_weight > 0."""
    if cfg.joint_weight > 0:
        from pevl.pretrain.clip.dense import pretrain_dense

        return pretrain_dense(cfg, work, weights)
    return pretrain_clip(cfg, work, weights)
