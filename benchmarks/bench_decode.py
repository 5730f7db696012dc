"""Decode stage throughput vs a bare OpenCV decode of the same files, per stored-clip codec.

    bare    cv2.VideoCapture per clip: grab every frame up to the clip's last sampled one, retrieve
            the T sampled ones (the least work that yields those frames), same worker processes;
    stage   `run_decode` on a fresh folder: the same decode + resize to short side S + encode the
            T frames (mp4v / mjpeg / h264) + atomic writes + records, `decode.workers` processes.
Also per codec: stored bytes per clip, PSNR against the uncompressed resized frames, and how fast
the loader decodes a stored clip (one process).
Goal: stage / bare >= 0.8 for the default codec. Best of --repeats rounds, interleaved. Wall-clock
rates swing with other load on a shared machine; the CPU time of the same work run in one process
(`time.process_time`) does not, so the table has both.

    python -m benchmarks.bench_decode [--root DIR] [--clips-per-class 2] [--size 320x240] [--workers 2]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2

from pevl.stages.parallel import run_jobs
from pevl.console import say

CODECS = ("mp4v", "mjpeg", "h264")


def dataset_section(root: str | None, clips_per_class: int, size: str, cache: Path) -> dict:
    """The `dataset` config section to benchmark on, its data generated once under `cache`.

    With `root`, that Diving48-layout folder is read as it is (dataset name diving48: the same
    adapter, and no SynthDive regeneration); otherwise a SynthDive of the given size.
    """
    if root:
        return {"name": "diving48", "root": str(Path(root).resolve())}
    from pevl.synth import ensure_synthdive
    from schemas import DatasetConfig

    w, h = (int(v) for v in size.split("x"))
    section = {"name": "synthdive", "root": str((cache / f"synthdive-{clips_per_class}-{w}x{h}").resolve()),
               "synth": {"clips_per_class": clips_per_class, "width": w, "height": h, "seed": 0}}
    ensure_synthdive(DatasetConfig.model_validate(section))
    return section


def make_config(dataset: dict, work: Path, **decode):
    """A PipelineConfig reading `dataset` into `work` with decode overrides."""
    from schemas import PipelineConfig

    return PipelineConfig.model_validate({"work_dir": str(work), "dataset": dataset, "decode": decode,
                                          "poses": {"backend": "ground_truth"}})


def bare_job(job: tuple[str, list[int]]) -> int:
    """Decode the frames at `indices` with nothing but cv2. Returns the frames kept."""
    path, indices = job
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    kept, pos = 0, 0
    for want in indices:
        while pos <= want:
            cap.grab()
            pos += 1
        ok, _frame = cap.retrieve()
        kept += ok
    cap.release()
    return kept


def _bare_init() -> None:
    cv2.setNumThreads(1)


def bare_jobs(root: Path, clips, frames: int) -> list[tuple[str, list[int]]]:
    """(path, sampled indices) of every clip, as the decode stage samples them."""
    from pose_extraction.video import probe_video, uniform_indices

    jobs = []
    for c in clips:
        end = c.end_frame if c.end_frame is not None else probe_video(root / c.source).frame_count
        jobs.append((str(root / c.source), uniform_indices(c.start_frame or 0, end, frames)))
    return jobs


def time_bare(jobs, workers: int) -> tuple[float, float]:
    """(wall seconds with `workers` processes, CPU seconds in this process with one) for the bare decode."""
    start = time.perf_counter()
    for _ in run_jobs(bare_job, jobs, workers, "bare", _bare_init):
        pass
    wall = time.perf_counter() - start
    cpu = time.process_time()
    for _ in run_jobs(bare_job, jobs, 1, "bare", _bare_init):
        pass
    return wall, time.process_time() - cpu


def psnr(cfg, root: Path, clips, limit: int = 24) -> float:
    """Mean PSNR (dB) of stored clips against the same frames resized but not compressed."""
    import numpy as np

    from pevl import paths
    from pevl.datasets import make_key
    from pevl.shards.codec import decode_clip
    from pose_extraction.video import sample_clip

    scores = []
    for c in clips[:limit]:
        ref = sample_clip(root / c.source, c.start_frame or 0, c.end_frame, cfg.decode.frames,
                          short_side=cfg.decode.short_side).frames.astype(np.float64)
        got = decode_clip((paths.decode_dir(cfg) / "clips" / f"{make_key(c.clip_id)}.mp4").read_bytes())
        mse = float(np.mean((ref - got) ** 2))
        scores.append(10 * np.log10(255.0**2 / max(mse, 1e-9)))
    return float(np.mean(scores))


def time_stage(cfg, cpu_cfg) -> tuple[float, float, float, float]:
    """(wall seconds of run_decode, CPU seconds of an inline run_decode (cpu_cfg: 1 worker),
    mean stored kB per clip, stored clips decoded per second by one process)."""
    from pevl import paths
    from pevl.shards.codec import decode_clip
    from pevl.stages.decode import run_decode

    wall = run_decode(cfg).seconds
    cpu = time.process_time()
    run_decode(cpu_cfg)
    cpu = time.process_time() - cpu
    stored = sorted((paths.decode_dir(cfg) / "clips").glob("*.mp4"))
    kb = sum(p.stat().st_size for p in stored) / len(stored) / 1024
    blobs = [p.read_bytes() for p in stored]
    start = time.process_time()
    for blob in blobs:
        decode_clip(blob)
    return wall, cpu, kb, len(blobs) / (time.process_time() - start)


def main(argv: list[str] | None = None) -> None:
    """Print the table: clips/s of bare cv2 and of the decode stage per codec, ratio, size, load speed."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="an existing Diving48-layout folder (default: generate a SynthDive)")
    ap.add_argument("--clips-per-class", type=int, default=2)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--short-side", type=int, default=128)
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cache", default="work/bench", help="where a generated SynthDive is kept")
    args = ap.parse_args(argv)
    from pevl.stages.ingest import run_ingest
    from pevl.storage.tables import read_table
    from pevl import paths
    from pose_extraction.video import probe_video
    from schemas import ClipRecord

    dataset = dataset_section(args.root, args.clips_per_class, args.size, Path(args.cache))
    root = Path(dataset["root"])
    with tempfile.TemporaryDirectory() as tmp:
        base = make_config(dataset, Path(tmp) / "work")
        run_ingest(base)
        clips = read_table(paths.index_dir(base) / "clips.parquet", ClipRecord)
        jobs = bare_jobs(root, clips, args.frames)
        bare, bare_cpu, stage, codecs = float("inf"), float("inf"), {}, args.codecs.split(",")
        for round_ in range(args.repeats):
            wall, cpu = time_bare(jobs, args.workers)
            bare, bare_cpu = min(bare, wall), min(bare_cpu, cpu)
            for codec in codecs[round_ % len(codecs):] + codecs[:round_ % len(codecs)]:  # rotate the order
                cfgs = [make_config(dataset, Path(tmp) / f"{codec}-{round_}-{w}", frames=args.frames,
                                    short_side=args.short_side, codec=codec, workers=w) for w in (args.workers, 1)]
                for cfg in cfgs:
                    run_ingest(cfg)  # each run decodes into a fresh work dir
                wall, cpu, kb, load = time_stage(*cfgs)
                best = stage.get(codec, (float("inf"), float("inf"), kb, load, 0.0))
                stage[codec] = (min(best[0], wall), min(best[1], cpu), kb, max(best[3], load),
                                best[4] or psnr(cfgs[0], root, clips))
    n, info = len(clips), probe_video(root / clips[0].source)
    say(f"decode: {n} clips of {root.name} ({info.width}x{info.height} source), T={args.frames}, "
          f"S={args.short_side}, {args.workers} workers, {os.cpu_count()} cores, best of {args.repeats}")
    say(f"| path | clips/s, {args.workers} workers | vs bare | CPU ms/clip, 1 process | vs bare (CPU) "
          "| stored kB/clip | PSNR dB | stored clips decoded/s (CPU, 1 process) |")
    say("|---|---|---|---|---|---|---|---|")
    say(f"| bare cv2 decode | {n / bare:.1f} | 1.00 | {1000 * bare_cpu / n:.1f} | 1.00 | - | - | - |")
    for codec in codecs:
        wall, cpu, kb, load, db = stage[codec]
        say(f"| decode stage, {codec} | {n / wall:.1f} | {bare / wall:.2f} | {1000 * cpu / n:.1f} | "
              f"{bare_cpu / cpu:.2f} | {kb:.1f} | {db:.1f} | {load:.0f} |")


if __name__ == "__main__":
    main()
