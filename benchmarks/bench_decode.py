"""Decode stage throughput vs a bare OpenCV decode and vs the bare chain of the same work, per stored codec.

    bare decode  cv2.VideoCapture per clip: grab every frame up to the clip's last sampled one,
                 retrieve the T sampled ones (the least work that yields those frames);
    bare chain   the least work that yields the stage's output: the bare decode + resize to short
                 side S (`resize_short_side`) + encode of the stored clip (cv2.VideoWriter for
                 mp4v / mjpeg, PyAV libx264 for h264, the stage's settings), frame by frame;
    stage        `run_decode` on a fresh folder: the same work + atomic writes, records, tables,
                 the folder's marker, `decode.workers` processes.
All three run in the same worker processes (`run_jobs`). A first stage run, not timed, warms the
file cache and starts the worker fork server as `pevl run` does (with the stage's modules loaded),
so every path's workers start alike. Each round measures every path, in a rotated order; the table
gives medians over --repeats rounds (ratios: the median of each round's ratio, so not always the
ratio of the medians; the stage's ratio to its chain with its range over the rounds) and the load
average. Wall-clock rates swing with other load on a shared machine; the CPU time of the same work
run in one process (`time.process_time`) does not, so the table has both. The stage's stored
clips are compared with the bare chain's, byte for byte (libx264's output varies from run to run).
Also per codec: stored bytes per clip, PSNR against the uncompressed resized frames, and how fast
the loader decodes a stored clip (one process). Goal: stage / bare chain >= 0.9.

    python -m benchmarks.bench_decode [--root DIR] [--clips-per-class 2] [--size 320x240] [--workers 2]
"""

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from pevl.console import say
from pevl.stages.parallel import run_jobs
from pose_extraction.video import resize_short_side, stored_size

CODECS = ("mp4v", "mjpeg", "h264")
FOURCC = {"mp4v": "mp4v", "mjpeg": "MJPG"}


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


def _capture(path: str) -> cv2.VideoCapture:
    return cv2.VideoCapture(path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])


def bare_job(job: tuple) -> int:
    """Decode the frames at the job's indices with nothing but cv2. Returns the frames kept."""
    path, indices = job[:2]
    cap = _capture(path)
    kept, pos = 0, 0
    for want in indices:
        while pos <= want:
            cap.grab()
            pos += 1
        ok, _frame = cap.retrieve()
        kept += ok
    cap.release()
    return kept


def _writer(codec: str, path: str, fps: float, size: tuple[int, int], crf: int):
    """(write(frame), close()) of one stored clip: cv2.VideoWriter, or PyAV libx264 for h264."""
    if codec != "h264":
        writer = cv2.VideoWriter(path, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*FOURCC[codec]), fps, size)
        return writer.write, writer.release
    import av

    container = av.open(path, mode="w", format="mp4")
    stream = container.add_stream("libx264", rate=max(1, int(round(fps))))
    stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
    stream.options = {"crf": str(crf), "preset": "veryfast"}
    stream.thread_count = 1

    def write(frame):
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))

    def close():
        container.mux(stream.encode())
        container.close()

    return write, close


def chain_job(job: tuple) -> int:
    """Decode the sampled frames, resize each to short side S and encode it into the stored clip.

    job: (source path, indices, fps, output path, S, codec, crf). Returns the frames written.
    """
    path, indices, fps, out, short_side, codec, crf = job
    cap = _capture(path)
    size = stored_size(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), short_side)
    write, close = _writer(codec, out, fps, size, crf)
    pos, frame = 0, None
    for want in indices:
        while pos <= want:
            cap.grab()
            pos += 1
            frame = None
        if frame is None:
            frame = resize_short_side(cap.retrieve()[1], short_side)
        write(frame)
    close()
    cap.release()
    return len(indices)


def _bare_init() -> None:
    cv2.setNumThreads(1)


def bare_jobs(root: Path, clips, frames: int) -> list[tuple[str, list[int], float, str]]:
    """(path, sampled indices, fps, key) of every clip, as the decode stage samples them."""
    from pevl.datasets import make_key
    from pose_extraction.video import probe_video, uniform_indices

    jobs = []
    for c in clips:
        info = probe_video(root / c.source)
        end = c.end_frame if c.end_frame is not None else info.frame_count
        fps = c.fps or info.fps
        jobs.append((str(root / c.source), uniform_indices(c.start_frame or 0, end, frames),
                     float(fps) if fps > 0 else 25.0, make_key(c.clip_id)))
    return jobs


def chain_jobs(jobs: list, out: Path, short_side: int, codec: str, crf: int) -> list[tuple]:
    """The bare chain's jobs: each clip stored as `out`/<key>.mp4."""
    out.mkdir(parents=True, exist_ok=True)
    return [(path, idx, fps, str(out / f"{key}.mp4"), short_side, codec, crf) for path, idx, fps, key in jobs]


def time_jobs(fn, jobs: list, workers: int, inline_jobs: list | None = None) -> tuple[float, float]:
    """(wall seconds with `workers` processes, CPU seconds in this process with one) of `fn` over `jobs`
    (`inline_jobs` for the second run when it must not write where the first did)."""
    start = time.perf_counter()
    for _ in run_jobs(fn, jobs, workers, "bare", _bare_init):
        pass
    wall = time.perf_counter() - start
    cpu = time.process_time()
    for _ in run_jobs(fn, inline_jobs or jobs, 1, "bare", _bare_init):
        pass
    return wall, time.process_time() - cpu


def psnr(folder: Path, root: Path, clips, frames: int, short_side: int, limit: int = 24) -> float:
    """Mean PSNR (dB) of the stored clips in `folder` against the same frames resized but not compressed."""
    import numpy as np

    from pevl.datasets import make_key
    from pevl.shards.codec import decode_clip
    from pose_extraction.video import sample_clip

    scores = []
    for c in clips[:limit]:
        ref = sample_clip(root / c.source, c.start_frame or 0, c.end_frame, frames,
                          short_side=short_side).frames.astype(np.float64)
        got = decode_clip((folder / f"{make_key(c.clip_id)}.mp4").read_bytes())
        mse = float(np.mean((ref - got) ** 2))
        scores.append(10 * np.log10(255.0**2 / max(mse, 1e-9)))
    return float(np.mean(scores))


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every .mp4 in a folder, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.mp4")}


def stored_figures(folder: Path, root: Path, clips, frames: int, short_side: int) -> tuple[float, float, float]:
    """(mean stored kB per clip, PSNR dB, stored clips decoded per CPU second in one process) of a stage output."""
    from pevl.shards.codec import decode_clip

    blobs = [p.read_bytes() for p in sorted(folder.glob("*.mp4"))]
    start = time.process_time()
    for blob in blobs:
        decode_clip(blob)
    load = len(blobs) / (time.process_time() - start)
    return sum(len(b) for b in blobs) / len(blobs) / 1024, psnr(folder, root, clips, frames, short_side), load


def time_stage(dataset: dict, work: Path, workers: int, **decode) -> tuple[float, float, Path]:
    """(wall seconds of run_decode with `workers`, CPU seconds of an inline run_decode, the first run's clips)."""
    from pevl import paths
    from pevl.stages.decode import run_decode
    from pevl.stages.ingest import run_ingest

    cfgs = [make_config(dataset, work / name, workers=w, **decode) for name, w in (("wall", workers), ("cpu", 1))]
    for cfg in cfgs:
        run_ingest(cfg)  # each run decodes into a fresh work dir
    start = time.perf_counter()
    run_decode(cfgs[0])
    wall = time.perf_counter() - start
    cpu = time.process_time()
    run_decode(cfgs[1])
    return wall, time.process_time() - cpu, paths.decode_dir(cfgs[0]) / "clips"


def warm_up(dataset: dict, work: Path, workers: int, **decode) -> None:
    """One untimed stage run: the sources in the file cache, the worker fork server started by the stage."""
    from pevl.stages.decode import run_decode
    from pevl.stages.ingest import run_ingest

    cfg = make_config(dataset, work, workers=workers, **decode)
    run_ingest(cfg)
    run_decode(cfg)
    shutil.rmtree(work)


def measure(args, dataset: dict, clips, tmp: Path) -> dict:
    """Every round: the bare decode, then per codec (rotated) the bare chain and the stage (alternating).

    Returns {"times": {path: [(wall, cpu) per round]}, "same": {codec: [identical, compared]},
    "stored": {codec: (kB, PSNR, loads/s)}, "loads": [1-min load average at each round's start]}.
    """
    root, codecs = Path(dataset["root"]), args.codecs.split(",")
    decode = {"frames": args.frames, "short_side": args.short_side, "h264_crf": args.crf}
    jobs = bare_jobs(root, clips, args.frames)
    warm_up(dataset, tmp / "warm", args.workers, codec=codecs[0], **decode)
    times: dict[str, list] = {}
    same, stored, loads = {c: [0, 0] for c in codecs}, {}, []
    for r in range(args.repeats):
        loads.append(os.getloadavg()[0])
        times.setdefault("bare decode", []).append(time_jobs(bare_job, jobs, args.workers))
        for codec in codecs[r % len(codecs):] + codecs[:r % len(codecs)]:
            chain_out, work = tmp / f"chain-{codec}-{r}", tmp / f"stage-{codec}-{r}"
            for path in ("chain", "stage") if r % 2 == 0 else ("stage", "chain"):
                if path == "chain":
                    wall_jobs, cpu_jobs = (chain_jobs(jobs, chain_out / name, args.short_side, codec, args.crf)
                                           for name in ("wall", "cpu"))
                    figures = time_jobs(chain_job, wall_jobs, args.workers, cpu_jobs)
                else:
                    *figures, stage_out = time_stage(dataset, work, args.workers, codec=codec, **decode)
                times.setdefault(f"{path} {codec}", []).append(tuple(figures))
            mine, theirs = digests(stage_out), digests(chain_out / "wall")
            same[codec][0] += sum(mine[k] == theirs.get(k) for k in mine)
            same[codec][1] += len(mine)
            if codec not in stored:
                stored[codec] = stored_figures(stage_out, root, clips, args.frames, args.short_side)
            shutil.rmtree(chain_out)
            shutil.rmtree(work)
    return {"times": times, "same": same, "stored": stored, "loads": loads, "file": file_cost(tmp / "files")}


def _median_ratio(times: dict, base: str, path: str, column: int, spread: bool = False) -> str:
    """The median over rounds of base time / path time (= path's clips/s over base's), with its
    range when `spread`; '-' without a base."""
    if base not in times or base == path:
        return "1.00" if base == path else "-"
    ratios = [b[column] / p[column] for b, p in zip(times[base], times[path])]
    text = f"{statistics.median(ratios):.2f}"
    return f"{text} ({min(ratios):.2f}-{max(ratios):.2f})" if spread else text


def file_cost(folder: Path, count: int = 200) -> tuple[float, float]:
    """(wall ms, CPU ms) to create one small file in `folder` and rename it, as the stage writes a clip's record."""
    folder.mkdir(parents=True, exist_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        (folder / f".{i}.tmp").write_text("{}" * 200)
        os.replace(folder / f".{i}.tmp", folder / f"{i}.json")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    shutil.rmtree(folder)
    return 1000 * wall / count, 1000 * cpu / count


def report(args, n: int, source: str, m: dict) -> None:
    """Print one source size's table through the console."""
    times, loads = m["times"], m["loads"]
    say(f"decode: {n} clips of {source}, T={args.frames}, S={args.short_side}, {args.workers} workers, "
        f"{os.cpu_count()} cores, median of {args.repeats} rounds; 1-min load average at the rounds' starts "
        f"{min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})")
    say(f"| path | clips/s, {args.workers} workers | vs bare decode | vs bare chain (range) | CPU ms/clip, 1 process "
        "| vs bare decode (CPU) | vs bare chain (CPU) | stored kB/clip | PSNR dB | stored clips decoded/s (CPU) |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for path, runs in times.items():
        codec = path.split()[-1]
        chain = f"chain {codec}" if path.startswith("stage") else path
        kb, db, load = m["stored"].get(codec, ("-", "-", "-")) if path.startswith("stage") else ("-", "-", "-")
        extra = f"{kb:.1f} | {db:.1f} | {load:.0f}" if kb != "-" else "- | - | -"
        say(f"| {path} | {n / statistics.median(r[0] for r in runs):.1f} | "
            f"{_median_ratio(times, 'bare decode', path, 0)} | {_median_ratio(times, chain, path, 0, True)} | "
            f"{1000 * statistics.median(r[1] for r in runs) / n:.1f} | {_median_ratio(times, 'bare decode', path, 1)} | "
            f"{_median_ratio(times, chain, path, 1)} | {extra} |")
    say("stored clips byte-identical to the bare chain's: " + ", ".join(
        f"{c} {k}/{total}" for c, (k, total) in m["same"].items()) + " (libx264's output varies from run to run)")
    say("the stage writes one file more per clip than the chain (its record, atomically): creating and renaming "
        f"a small file in the work folder took {m['file'][0]:.2f} ms wall, {m['file'][1]:.2f} ms CPU here")


def main(argv: list[str] | None = None) -> None:
    """Print the table: clips/s of the bare decode, the bare chain and the decode stage per codec, ratios, size."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="an existing Diving48-layout folder (default: generate a SynthDive)")
    ap.add_argument("--clips-per-class", type=int, default=2)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--short-side", type=int, default=128)
    ap.add_argument("--crf", type=int, default=23, help="libx264 constant rate factor (codec h264)")
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cache", default="work/bench", help="where a generated SynthDive is kept")
    args = ap.parse_args(argv)
    from pevl import paths
    from pevl.stages.ingest import run_ingest
    from pevl.storage.tables import read_table
    from pose_extraction.video import probe_video
    from schemas import ClipRecord

    dataset = dataset_section(args.root, args.clips_per_class, args.size, Path(args.cache))
    root = Path(dataset["root"])
    with tempfile.TemporaryDirectory() as tmp:
        base = make_config(dataset, Path(tmp) / "index")
        run_ingest(base)
        clips = read_table(paths.index_dir(base) / "clips.parquet", ClipRecord)
        m = measure(args, dataset, clips, Path(tmp))
    info = probe_video(root / clips[0].source)
    report(args, len(clips), f"{root.name} ({info.width}x{info.height} source)", m)


if __name__ == "__main__":
    main()
