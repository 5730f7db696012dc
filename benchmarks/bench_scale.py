"""How the data stages' cost grows with the number of clips: 1,000 / 4,000 / 16,000 clips.

The video set is cheap to make: a small SynthDive (2 clips per class, 64x48) rendered once, then
a Diving48-layout folder per size whose annotations list N clips, each a hard link to one of the
rendered videos (the stages see N distinct files and do N clips' work; only the rendering is saved).
For each size and mode a fresh work dir runs ingest, decode, poses and shard with the embedded
SynthDive pose models (4 stored frames of short side 48, the process task runner, 2 workers):

    prefect  the `pevl` flow against a fresh Prefect server (poses fanned out in task batches)
    plain    the same stage functions without Prefect (`pevl run`)

and records, per stage, wall and CPU seconds per clip (CPU of the whole process tree, which a
shared machine's load disturbs less than wall time); peak RSS of the flow process, of its
workers together and of the largest single worker, and of the Prefect server; the number of
Prefect task runs and artifact events; the bytes of bookkeeping files (indexes, manifests,
markers, records: everything but the stored clips, poses and tars). Then `verify_shards` and one
epoch of the training loader over the shards, per clip. Writes JSON and markdown tables.

    python -m benchmarks.bench_scale [--sizes 1000 4000 16000] [--modes prefect plain] [--out work/bench-scale]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks.proc_monitor import TreeMonitor
from benchmarks.scale_run import DATA_STAGES
from pevl.console import say

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = (".mp4", ".tar", ".npy", ".npz")  # the data itself; every other file is bookkeeping
MB = 1 << 20


def base_dataset(cache: Path) -> Path:
    """A small SynthDive (2 clips per class at 64x48) rendered once under `cache`."""
    from pevl.synth import ensure_synthdive
    from schemas import DatasetConfig

    cfg = DatasetConfig.model_validate({"name": "synthdive", "root": str(cache / "synthdive-base"),
                                        "synth": {"clips_per_class": 2, "seed": 0, "width": 64, "height": 48}})
    ensure_synthdive(cfg)
    return Path(cfg.root)


def scaled_dataset(base: Path, n: int, out: Path) -> Path:
    """A Diving48-layout folder of n clips (3 in 4 train), each a hard link to a base video."""
    records = [r for split in ("train", "test") for r in json.loads((base / f"Diving48_V2_{split}.json").read_text())]
    if out.is_dir():
        shutil.rmtree(out)
    (out / "rgb").mkdir(parents=True)
    shutil.copy(base / "Diving48_vocab.json", out)
    splits: dict[str, list] = {"train": [], "test": []}
    for i in range(n):
        r = records[i % len(records)]
        name = f"c{i:06d}"
        os.link(base / "rgb" / f"{r['vid_name']}.mp4", out / "rgb" / f"{name}.mp4")
        splits["train" if i % 4 else "test"].append({**r, "vid_name": name})
    for split, rows in splits.items():
        (out / f"Diving48_V2_{split}.json").write_text(json.dumps(rows))
    return out


def write_config(root: Path, work: Path, path: Path, pose_batch_clips: int = 64) -> Path:
    """configs/demo.yaml's pose models on the scaled set: 4 frames of short side 48, 2 workers."""
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg.update(name="scale", work_dir=str(work), dataset={"name": "diving48", "root": str(root)})
    cfg["decode"] = {**cfg["decode"], "frames": 4, "short_side": 48, "workers": 2}
    cfg["model"] = {**cfg["model"], "num_frames": 4, "pose_frame_ratio": 1}
    cfg["train"] = {**cfg["train"], "num_workers": 0, "decode_cache_mb": 0}
    cfg["orchestration"] = {"task_runner": "process", "max_workers": 2, "pose_batch_clips": pose_batch_clips}
    cfg.pop("grid", None)
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_prefect(state: Path):
    """A fresh Prefect server (SQLite, no UI) on a free port; (record, api url)."""
    from pevl.services import servers

    port = servers.free_port()
    started = servers.start(servers.prefect_service(state, port, ui=False), state)
    rec = started[0] if isinstance(started, tuple) else started
    return rec, servers.prefect_api_url(port)


def api(url: str, path: str, body: dict) -> object:
    """POST a filter to the Prefect API through Prefect's client (which answers the server's CSRF check)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        response = client._client.post(f"/{path}", json=body)  # the raw filter endpoints, paged below
        response.raise_for_status()
        return response.json()


def prefect_counts(url: str) -> dict:
    """Task runs (with each stage task's window), flow runs and artifact events on the server."""
    runs, offset = [], 0
    while True:
        page = api(url, "task_runs/filter", {"limit": 200, "offset": offset})
        runs += page
        offset += len(page)
        if len(page) < 200:
            break
    windows = {}
    for r in runs:
        if r["name"].split("-")[0] in DATA_STAGES and r.get("start_time") and r.get("end_time"):
            from datetime import datetime

            windows[r["name"].split("-")[0]] = {k: datetime.fromisoformat(r[k]).timestamp()
                                                 for k in ("start_time", "end_time")}
    events = api(url, "events/filter", {"filter": {"event": {"prefix": ["prefect.artifact"]},
                                                   "occurred": {"since": "2000-01-01T00:00:00Z"}}, "limit": 1})
    flows = api(url, "flow_runs/filter", {"limit": 200})
    artifacts = api(url, "artifacts/filter", {"limit": 200})
    return {"task_runs": len(runs), "flow_runs": len(flows), "artifacts": len(artifacts),
            "artifact_events": int(events.get("total", 0)), "windows": windows}


def bookkeeping_bytes(work: Path) -> int:
    """Bytes of every file in the work dir that is not stored data (clips, poses, tars)."""
    return sum(p.stat().st_size for p in work.rglob("*") if p.is_file() and p.suffix not in PAYLOAD)


def run_mode(config: Path, mode: str, out: Path, env: dict, server_pid: int | None) -> dict:
    """One measured subprocess run; its stage windows, peak RSS and CPU per stage."""
    windows_file = out / f"windows-{mode}.json"
    command = [sys.executable, "-m", "benchmarks.scale_run", str(config), mode, str(windows_file)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    with TreeMonitor(proc.pid, {"server": server_pid} if server_pid else None) as monitor:
        rc = proc.wait()
    if rc != 0:
        raise SystemExit(f"bench_scale: the {mode} run of {config} failed (exit {rc})")
    return {"windows": json.loads(windows_file.read_text()), "usage": monitor.usage}


def after_shards(config: Path) -> dict:
    """`verify_shards` and one epoch of the training loader over the shards: seconds and clips."""
    from pevl import paths
    from pevl.data.loader import make_train_loader
    from pevl.shards.verify import verify_shards
    from schemas import load_config

    cfg = load_config(config)
    shards = paths.shards_dir(cfg)
    start = time.perf_counter()
    samples, defects = verify_shards(shards)
    verify_s = time.perf_counter() - start
    start, clips = time.perf_counter(), 0
    loader, _ = make_train_loader(cfg, shards, 0)
    for batch in loader:
        clips += len(batch["label"])
    return {"verify_s": verify_s, "verified": samples, "defects": len(defects),
            "loader_s": time.perf_counter() - start, "loader_clips": clips}


def measure(n: int, modes: list[str], base: Path, out: Path, pose_batch_clips: int = 64) -> dict:
    """Every mode at one size."""
    result: dict = {"clips": n}
    root = scaled_dataset(base, n, out / f"data-{n}")
    for mode in modes:
        work = out / f"work-{n}-{mode}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        config = write_config(root, work, work / "config.yaml", pose_batch_clips)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        rec, server_pid = None, None
        if mode == "prefect":
            rec, url = start_prefect(work / "state")
            env["PREFECT_API_URL"], server_pid = url, rec.pid
        load = os.getloadavg()[0]
        try:
            run = run_mode(config, mode, work, env, server_pid)
            counts = prefect_counts(url) if mode == "prefect" else {}
        finally:
            if rec is not None:
                from pevl.services import servers

                servers.stop(work / "state", "prefect")
        windows = counts.pop("windows", {}) or {s: {"start_time": w["start"], "end_time": w["end"]}
                                                   for s, w in run["windows"].items()}
        usage = run["usage"]
        stages = {}
        for stage in DATA_STAGES:
            w = windows.get(stage)
            seconds = run["windows"].get(stage, {}).get("seconds", 0.0)
            cpu = usage.cpu_between(w["start_time"], w["end_time"]) if w else float("nan")
            stages[stage] = {"wall_ms_per_clip": 1000 * seconds / n, "cpu_ms_per_clip": 1000 * cpu / n,
                             "task_wall_s": (w["end_time"] - w["start_time"]) if w else float("nan")}
        result[mode] = {"stages": stages, "peak_rss_mb": {k: v / MB for k, v in usage.peak_rss.items()},
                        "peak_worker_rss_mb": usage.peak_worker_rss / MB, **counts,
                        "bookkeeping_mb": bookkeeping_bytes(work) / MB, "load_before": load,
                        "load_after": os.getloadavg()[0]}
        if mode == modes[-1]:
            result["after"] = after_shards(config)
    shutil.rmtree(root, ignore_errors=True)
    return result


def tables(results: list[dict], modes: list[str]) -> list[str]:
    """Markdown: per-clip cost per stage and mode, memory and counts, what follows the shards."""
    lines = ["| clips | mode | " + " | ".join(f"{s} wall / CPU ms per clip" for s in DATA_STAGES)
             + " | flow RSS MB | workers RSS MB (largest) | server RSS MB | task runs | artifact events "
               "| bookkeeping MB | load |",
             "|---" * (2 + len(DATA_STAGES) + 7) + "|"]
    for r in results:
        for mode in modes:
            m = r[mode]
            cells = [f"{m['stages'][s]['wall_ms_per_clip']:.1f} / {m['stages'][s]['cpu_ms_per_clip']:.1f}"
                     for s in DATA_STAGES]
            rss = m["peak_rss_mb"]
            lines.append(f"| {r['clips']:,} | {mode} | " + " | ".join(cells)
                         + f" | {rss.get('main', 0):.0f} | {rss.get('workers', 0):.0f} ({m['peak_worker_rss_mb']:.0f})"
                           f" | {rss.get('server', 0):.0f} | {m.get('task_runs', '-')} | {m.get('artifact_events', '-')}"
                           f" | {m['bookkeeping_mb']:.1f} | {m['load_before']:.1f}-{m['load_after']:.1f} |")
    lines += ["", "| clips | verify ms per clip | loader ms per clip (one epoch) | defects |", "|---|---|---|---|"]
    for r in results:
        a = r["after"]
        lines.append(f"| {r['clips']:,} | {1000 * a['verify_s'] / a['verified']:.2f} | "
                     f"{1000 * a['loader_s'] / max(1, a['loader_clips']):.2f} | {a['defects']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    ap.add_argument("--modes", nargs="+", choices=("prefect", "plain"), default=["prefect", "plain"])
    ap.add_argument("--out", type=Path, default=ROOT / "work" / "bench-scale")
    ap.add_argument("--pose-batch-clips", type=int, default=64, help="clips per pose task (orchestration.pose_batch_clips)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = base_dataset(args.out)
    results = []
    for n in args.sizes:
        say(f"bench_scale: {n:,} clips ({', '.join(args.modes)})")
        results.append(measure(n, args.modes, base, args.out, args.pose_batch_clips))
        (args.out / "scale.json").write_text(json.dumps(results, indent=1))
        for line in tables(results, args.modes):
            say(line)
    say(f"bench_scale: results in {args.out / 'scale.json'}")


if __name__ == "__main__":
    main()
