"""Peak memory of the shard stage for 200 vs 2,000 clips: it streams, so memory must not grow.

The clips are real SynthDive clips through the real decode and pose stages; the 2,000-clip set
repeats them under new keys (hard links to the stored clips and poses, rows in the stage tables),
which is what the shard stage reads. Each size runs `run_shard` in a fresh process; its peak RSS
(ru_maxrss) and time are reported, with the verification of every sample included.

    python -m benchmarks.bench_shard_memory [--root DIR] [--counts 200,2000]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_decode import dataset_section
from benchmarks.bench_shard_loader import prepared_run
from pevl.console import say

CHILD = """
import json, resource, sys, time
from schemas import load_config
from pevl.stages.shard import run_shard
cfg = load_config(sys.argv[1])
start = time.perf_counter()
result = run_shard(cfg)
sys.stdout.write(json.dumps({"seconds": time.perf_counter() - start, "samples": result.counts["samples"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}) + "\n")
"""


def replicate(base, count: int, work: Path):
    """A config whose index, decoded clips and poses are `count` copies of base's (hard links)."""
    from pevl import paths
    from pevl.storage.outputs import finish, input_token
    from pevl.storage.tables import read_table, write_table
    from schemas import ClipRecord, DecodedClip, RejectRecord, save_config

    cfg = base.model_copy(update={"work_dir": str(work)})
    decoded = read_table(paths.decode_dir(base) / "decoded.parquet", DecodedClip)
    clips, rows = [], []
    for i in range(count):
        src = decoded[i % len(decoded)]
        key = f"{src.key}-r{i:05d}"
        clips.append(ClipRecord(clip_id=key, dataset=src.dataset, split=src.split, label=src.label,
                                source=src.source))
        rows.append(src.model_copy(update={"key": key, "clip_id": key}))
    stages = [("ingest", paths.index_dir, paths.index_hash), ("decode", paths.decode_dir, paths.decode_hash),
              ("poses", paths.poses_dir, paths.poses_hash)]
    for _, folder, _ in stages:
        (folder(cfg) / "clips").mkdir(parents=True, exist_ok=True)
        write_table(folder(cfg) / "rejects.parquet", RejectRecord, [])
    write_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord, clips)
    write_table(paths.decode_dir(cfg) / "decoded.parquet", DecodedClip, rows)
    (paths.index_dir(cfg) / "classes.json").write_bytes((paths.index_dir(base) / "classes.json").read_bytes())
    (paths.poses_dir(cfg) / "info.json").write_bytes((paths.poses_dir(base) / "info.json").read_bytes())
    for i, row in enumerate(rows):
        src = decoded[i % len(decoded)].key
        os.link(paths.decode_dir(base) / "clips" / f"{src}.mp4", paths.decode_dir(cfg) / "clips" / f"{row.key}.mp4")
        os.link(paths.poses_dir(base) / "clips" / f"{src}.pose.npy",
                paths.poses_dir(cfg) / "clips" / f"{row.key}.pose.npy")
    token: dict[str, str] = {"dataset": "replicated"}
    for name, folder, hash_fn in stages:
        finish(name, folder(cfg), cfg, hash_fn(cfg), token, {"records": count}, time.perf_counter())
        token = {name: input_token(name, folder(cfg), hash_fn(cfg))}
    path = work / "config.yaml"
    save_config(cfg, path)
    return path


def main(argv: list[str] | None = None) -> None:
    """Print peak RSS and time of the shard stage for each clip count."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="a Diving48-layout folder with keypoints/ (default: generate a SynthDive)")
    ap.add_argument("--clips-per-class", type=int, default=2)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--counts", default="200,2000")
    ap.add_argument("--cache", default="work/bench")
    args = ap.parse_args(argv)
    dataset = dataset_section(args.root, args.clips_per_class, args.size, Path(args.cache))
    base = prepared_run(dataset, Path(args.cache) / f"work-{Path(dataset['root']).name}")
    results = []
    with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
        for count in (int(c) for c in args.counts.split(",")):
            config = replicate(base, count, Path(tmp) / f"n{count}")
            out = subprocess.run([sys.executable, "-c", CHILD, str(config)], capture_output=True, text=True,
                                 check=True)
            results.append((count, json.loads(out.stdout.strip().splitlines()[-1])))
    say(f"shard stage memory: SynthDive clips ({args.size} source, 16 x 128 px stored), "
          f"{os.cpu_count()} cores, one fresh process per size, verification included")
    say("| clips | samples | seconds | ms/clip | peak RSS (MB) |")
    say("|---|---|---|---|---|")
    for count, r in results:
        say(f"| {count} | {r['samples']} | {r['seconds']:.1f} | {1000 * r['seconds'] / count:.1f} | "
              f"{r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
