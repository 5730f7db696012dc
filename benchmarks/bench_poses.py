"""Pose stage throughput: our estimator vs rtmlib's own calls vs bare onnxruntime `session.run`.

Three timings on the same ONNX models, input sizes, onnxruntime options and frames:
  bare    `session.run` on ready-made inputs (detector + one RTMPose crop per frame, or RTMO);
  rtmlib  rtmlib's YOLOX / RTMPose / RTMO calls per frame: their letterbox, affine crop, normalising,
          NMS and SimCC decoding, which any use of these models needs;
  ours    `estimator.estimate(clip)`: rtmlib's calls plus our RGB->BGR, box clipping and main-person
          tracking.
Overheads are extra time relative to bare: rtmlib's pre/post-processing = rtmlib/bare - 1; our own
work (RGB->BGR and tracking, timed on its own on the same detections) = own/bare; total = ours/bare - 1
(the goal: <= 15%). With one onnxruntime thread (the default here, as in a pose worker process)
everything runs in the calling thread, so the clock is process CPU time, which other processes' load
on a shared machine barely moves; otherwise wall time. Each clip counts its best of several
interleaved rounds.

Real weights are not downloadable here, so by default the models are the tests' random-weight
stand-ins (tests/onnx_models.py) at two compute costs: `tiny` (the test models: a few ms per frame,
mostly their 640x640 blob search) and `light` (random convs of about the cost of rtmlib's lightweight
pair: ~5.4 GFLOPs for the detector or RTMO vs YOLOX-tiny's 6.5, ~0.65 for the pose model vs
RTMPose-s's 0.68). On a
machine with the real models pass them: --det/--pose/--rtmo (local .onnx or rtmlib URLs).

    python -m benchmarks.bench_poses [--clips 4] [--frames 16] [--cost tiny light] [--threads 1]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

COSTS = {"tiny": (8, 1), "light": (48, 5)}  # stand-in backbone (width, depth)


def make_frames(num: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(num, H, W, 3) uint8 RGB stored frames, noisy grey with one white person moving across."""
    height, width = size
    rng = np.random.default_rng(seed)
    frames = rng.integers(20, 120, size=(num, height, width, 3), dtype=np.uint8)
    box_h, box_w = height // 2, height // 4
    for t in range(num):
        x = int((width - box_w) * t / max(num - 1, 1))
        frames[t, height // 4:height // 4 + box_h, x:x + box_w] = 255
    return frames


def best_of(paths: dict, clips: list[np.ndarray], repeats: int, clock=time.perf_counter) -> dict[str, float]:
    """Seconds per path for all clips: interleaved rounds, each clip's best round (robust to a shared CPU)."""
    best = {name: [float("inf")] * len(clips) for name in paths}
    for name, fn in paths.items():
        fn(clips[0])  # warm-up
    for _ in range(repeats):
        for i, clip in enumerate(clips):
            for name, fn in paths.items():
                start = clock()
                fn(clip)
                best[name][i] = min(best[name][i], clock() - start)
    return {name: sum(times) for name, times in best.items()}


def bench_mode(mode: str, det: str, pose: str, frames: np.ndarray, clip_len: int, threads: int, repeats: int,
               sizes: dict | None = None) -> dict:
    """Seconds for all frames: bare session.run, rtmlib calls, our estimator (sizes: det/pose_input_size)."""
    from pose_extraction import FrameContext, build_estimator
    from pose_extraction.tracking import track_main_person
    from schemas import PoseConfig

    cfg = PoseConfig(backend="rtmlib", rtmlib=dict(mode=mode, det_model=det, pose_model=pose, threads=threads,
                                                   **(sizes or {})))
    estimator = build_estimator(cfg, Path("."))
    detect = estimator.detect
    clips = [frames[i:i + clip_len] for i in range(0, len(frames), clip_len)]
    if mode == "rtmo":
        sessions = [(detect.rtmo.session, (1, 3, *cfg.rtmlib.det_input_size))]

        def rtmlib_calls(clip):
            for frame in clip:
                detect.rtmo(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    else:
        pose_w, pose_h = cfg.rtmlib.pose_input_size
        sessions = [(detect.det.session, (1, 3, *cfg.rtmlib.det_input_size)), (detect.pose.session, (1, 3, pose_h, pose_w))]

        def rtmlib_calls(clip):
            for frame in clip:
                image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                detect.pose(image, bboxes=detect.det(image))

    feeds = [(session, {session.get_inputs()[0].name: np.random.rand(*shape).astype(np.float32) * 255})
             for session, shape in sessions]

    def bare(clip):
        for _ in range(len(clip)):
            for session, feed in feeds:
                session.run(None, feed)

    def ours(clip):
        context = FrameContext("bench", "bench.mp4", Path("."), tuple(range(len(clip))), clip.shape[2:0:-1])
        estimator.estimate(clip, context)

    detections = {id(clip): [detect(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)) for frame in clip] for clip in clips}

    def own(clip):  # only what our estimator adds around rtmlib's calls
        for frame in clip:
            cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        track_main_person(detections[id(clip)], clip.shape[2:0:-1], estimator.min_iou, estimator.max_jump)

    # one onnxruntime thread computes in the calling thread: CPU time then ignores other processes' load
    clock = time.process_time if threads == 1 else time.perf_counter
    times = best_of({"bare": bare, "rtmlib": rtmlib_calls, "ours": ours, "own": own}, clips, repeats, clock)
    return {"model": estimator.model, **times}


def standin_models(folder: Path, cost: str) -> dict[str, str]:
    """Export the tests' stand-ins at a compute cost; returns .onnx paths by role."""
    from tests.onnx_models import export_models

    width, depth = COSTS[cost]
    return {role: str(path) for role, path in export_models(folder / cost, width=width, depth=depth).items()}


def shipped_models(clips: int, frames: int, size: tuple[int, int]) -> tuple[dict, dict, np.ndarray]:
    """The shipped SynthDive models, their input sizes, and SynthDive frames (evaluation seeds) of short side size[0]."""
    from pevl.pretrain.poses.data import render_clip

    det, pose = "builtin:pose/synthdive_det.onnx", "builtin:pose/synthdive_pose.onnx"
    render = (160, 120) if size[0] < 120 else (round(size[1] * 240 / size[0]) // 2 * 2, 240)
    stored = np.concatenate([render_clip(4900, i, (*render, size[0]), frames).frames for i in range(clips)])
    sizes = {"det_input_size": (96, 128), "pose_input_size": (64, 64)}
    return {"shipped SynthDive models": {"det": det, "pose": pose, "rtmo": ""}}, sizes, stored


def _cost_label(cost: str) -> str:
    from tests.onnx_models import backbone_gflops

    width, depth = COSTS[cost]
    det, pose = backbone_gflops((640, 640), width, depth), backbone_gflops((256, 192), width, depth)
    return f"{cost} stand-ins (convs: det/RTMO {det:.2f}, pose {pose:.2f} GFLOPs)"


def table(rows: list[dict], num_frames: int) -> list[str]:
    """Markdown table lines: frames/s of each path and the overheads relative to bare session.run."""
    lines = [
        "| mode | models | bare session.run fps | rtmlib calls fps | our estimator fps "
        "| rtmlib pre/post | our own work | total overhead |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        bare, rtm, ours, own = row["bare"], row["rtmlib"], row["ours"], row["own"]
        lines.append(
            f"| {row['mode']} | {row['label']} | {num_frames / bare:.1f} | {num_frames / rtm:.1f} | "
            f"{num_frames / ours:.1f} | {rtm / bare - 1:+.1%} | {own / bare:+.2%} | {ours / bare - 1:+.1%} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16, help="stored frames per clip")
    parser.add_argument("--size", type=int, nargs=2, default=(128, 170), metavar=("H", "W"), help="stored frame size")
    parser.add_argument("--cost", nargs="+", choices=sorted(COSTS), default=["tiny", "light"])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads per session (0 = its default); 1 as in a pose worker process")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each clip counts its best round")
    parser.add_argument("--det", help="real YOLOX model (.onnx or rtmlib URL); with --pose replaces the stand-ins")
    parser.add_argument("--pose", help="real RTMPose model")
    parser.add_argument("--rtmo", help="real RTMO model")
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped SynthDive models (builtin:pose/...) at their input sizes, on SynthDive frames")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the stand-ins live in tests/
    from pevl.console import say

    frames = make_frames(args.clips * args.frames, tuple(args.size))
    rows, sizes = [], None
    with tempfile.TemporaryDirectory() as tmp:
        if args.shipped:
            sets, sizes, frames = shipped_models(args.clips, args.frames, tuple(args.size))
        elif args.det and args.pose or args.rtmo:
            sets = {"given": {"det": args.det or "", "pose": args.pose or "", "rtmo": args.rtmo or ""}}
        else:
            sets = {_cost_label(cost): standin_models(Path(tmp), cost) for cost in args.cost}
        for label, models in sets.items():
            for mode in ("body", "rtmo"):
                pose = models["rtmo"] if mode == "rtmo" else models["pose"]
                if not pose or (mode == "body" and not models["det"]):
                    continue
                row = bench_mode(mode, models["det"], pose, frames, args.frames, args.threads, args.repeats, sizes)
                rows.append({**row, "mode": mode, "label": label})
    clock = "process CPU time" if args.threads == 1 else "wall time"
    say(f"{len(frames)} frames of {args.size[1]}x{args.size[0]} ({args.clips} clips x {args.frames}), "
        f"onnxruntime threads: {args.threads or 'default'}, {clock}, each clip's best of {args.repeats} "
        "interleaved rounds")
    for line in table(rows, len(frames)):
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
