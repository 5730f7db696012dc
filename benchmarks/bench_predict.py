"""`pevl predict` speed on CPU: videos/s, where a video's time goes, and the model's cost per clip
next to `pevl evaluate`'s, measured in the same run.

A small SynthDive run (8 classes, 4 clips per class at 160x120, configs/demo.yaml's embedded
models, 1 epoch) is trained once under --work. Then, on its test split:

    evaluate  the model on `make_eval_loader`'s batches of the stored shards (train.eval_batch_size
              clips per call, the evaluation views), `score_views` timed alone: model ms per clip
    predict   every raw test video through `predict_videos` (the model on eval_batch_size clips
              per call, as `pevl predict` runs it) and, beside it, `predict_one` per video (one clip
              per call, as the served model answers): decode, detector and keypoint model
              (onnxruntime `InferenceSession.run` timed per model file), the rest of pose
              estimation (pre/post-processing, tracking), the model

Best of --repeats rounds for the model figures, interleaved. Goal: predict's model ms per clip
within 1.2x of evaluate's.

    python -m benchmarks.bench_predict [--work work/bench-predict] [--repeats 3]
"""

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

from pevl.console import say

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["dataset.synth.clips_per_class=4", "dataset.synth.classes=[0,1,2,3,4,5,6,7]", "dataset.synth.width=160",
         "dataset.synth.height=120", "dataset.synth.test_fraction=0.5", "train.epochs=1", "tracking.enabled=false",
         "train.decode_cache_mb=0"]


def trained_run(work: Path):
    """The small run's config, trained (and reused when its outputs are complete)."""
    from pevl.pipeline import run_stages
    from schemas import load_config

    cfg = load_config(ROOT / "configs" / "demo.yaml",
                      [*SMALL, f"work_dir={work}", f"dataset.root={work / 'synthdive'}"])
    run_stages(cfg, ["ingest", "decode", "poses", "shard", "train"])
    return cfg


class SessionTimer:
    """Seconds spent in onnxruntime `InferenceSession.run`, per model file, while installed."""

    def __init__(self):
        import onnxruntime as ort

        self.seconds: dict[str, float] = defaultdict(float)
        self._cls, self._run = ort.InferenceSession, ort.InferenceSession.run
        timer = self

        def run(session, *args, **kwargs):
            start = time.perf_counter()
            try:
                return timer._run(session, *args, **kwargs)
            finally:
                timer.seconds[Path(str(getattr(session, "_model_path", "?"))).name] += time.perf_counter() - start

        self._cls.run = run

    def remove(self) -> None:
        """Put onnxruntime's own `run` back."""
        self._cls.run = self._run


def evaluate_model_ms(cfg, loaded) -> tuple[float, int]:
    """Model ms per clip over the test split's evaluation batches (loading and decoding not timed)."""
    import torch

    from pevl import paths
    from pevl.data.loader import make_eval_loader
    from pevl.train.loop import score_views

    loader = make_eval_loader(cfg, paths.shards_dir(cfg), "test", clips=cfg.train.eval_clips, crops=cfg.train.eval_crops)
    seconds, clips = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            start = time.perf_counter()
            score_views(loaded.model, batch, loaded.device, loaded.dtype)
            seconds += time.perf_counter() - start
            clips += len(batch["label"])
    return 1000 * seconds / clips, clips


def predict_round(cfg, loaded, checkpoint: Path, batched: bool) -> dict:
    """Every raw test video through the predict path; seconds per part and videos/s.

    batched: `predict_videos` (the model on eval_batch_size clips per call, as `pevl predict` runs it);
    otherwise `predict_one` per video (one clip per call, as the served model answers one request).
    """
    from pevl import paths
    from pevl.predict.inputs import VideoInput
    from pevl.predict.pipeline import ClipPipeline
    from pevl.predict.predict import predict_one, predict_videos
    from pevl.storage.tables import read_table
    from schemas import ClipRecord

    root = paths.dataset_root(cfg)
    test = [c for c in read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord) if c.split == "test"]
    videos = [VideoInput(root / c.source, c.start_frame or 0, c.end_frame) for c in test]
    views = (cfg.train.eval_clips, cfg.train.eval_crops)
    pipeline = None if batched else ClipPipeline(cfg, None, loaded.poses)
    timer = SessionTimer()
    start = time.perf_counter()
    try:
        if batched:
            rows = predict_videos(videos, checkpoint, device="cpu", show_progress=False, windows="never")
        else:
            rows = [predict_one(v, pipeline, loaded, *views, 5) for v in videos]
    finally:
        timer.remove()
    wall = time.perf_counter() - start
    ok = [r for r in rows if r.status == "ok"]
    det = sum(s for name, s in timer.seconds.items() if "det" in name)
    kpt = sum(s for name, s in timer.seconds.items() if "det" not in name)
    poses = sum(r.poses_s for r in ok)
    return {"videos": len(rows), "ok": len(ok), "wall_s": wall, "videos_per_s": len(rows) / wall,
            "decode_ms": 1000 * sum(r.decode_s for r in ok) / len(ok), "detector_ms": 1000 * det / len(ok),
            "keypoints_ms": 1000 * kpt / len(ok), "pose_rest_ms": 1000 * (poses - det - kpt) / len(ok),
            "model_ms": 1000 * sum(r.model_s for r in ok) / len(ok)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "work" / "bench-predict")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from pevl import paths
    from pevl.predict.model import load_model
    from pevl.train.distributed import set_threads

    cfg = trained_run(args.work.resolve())
    checkpoint = paths.train_dir(cfg) / f"{cfg.train.test_checkpoint}.pt"
    loaded = load_model(checkpoint, "cpu")
    set_threads(cfg.train.threads)
    load = os.getloadavg()[0]
    evals, rounds = [], {True: [], False: []}
    for _ in range(args.repeats):  # interleaved, best of each
        evals.append(evaluate_model_ms(cfg, loaded))
        for batched in (True, False):
            rounds[batched].append(predict_round(cfg, loaded, checkpoint, batched))
    eval_ms, clips = min(evals)
    best = {b: min(r, key=lambda x: x["wall_s"]) for b, r in rounds.items()}
    model_ms = {b: min(x["model_ms"] for x in r) for b, r in rounds.items()}
    batch = cfg.train.eval_batch_size or cfg.train.batch_size
    say(f"bench_predict: {best[True]['videos']} test videos ({best[True]['ok']} predicted), {cfg.train.eval_clips}x"
        f"{cfg.train.eval_crops} views, threads {cfg.train.threads}, load {load:.1f}-{os.getloadavg()[0]:.1f}")
    say("| path | videos/s | decode ms | detector ms | keypoints ms | pose pre/post + tracking ms | model ms |")
    say("|---|---|---|---|---|---|---|")
    for b, name in ((True, f"pevl predict ({batch} clips per model call)"), (False, "one video at a time (served model)")):
        r = best[b]
        say(f"| {name} | {r['videos_per_s']:.2f} | {r['decode_ms']:.1f} | {r['detector_ms']:.1f} | "
            f"{r['keypoints_ms']:.1f} | {r['pose_rest_ms']:.1f} | {model_ms[b]:.1f} |")
    say("")
    say(f"| model ms per clip, best of {args.repeats} | ms | / evaluate (goal <= 1.2) |")
    say("|---|---|---|")
    say(f"| pevl evaluate ({batch} clips per call, {clips} clips) | {eval_ms:.2f} | 1.00 |")
    say(f"| pevl predict ({batch} clips per call) | {model_ms[True]:.2f} | {model_ms[True] / eval_ms:.2f} |")
    say(f"| one video at a time | {model_ms[False]:.2f} | {model_ms[False] / eval_ms:.2f} |")

if __name__ == "__main__":
    main()
