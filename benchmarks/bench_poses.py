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

A second table compares `poses.rtmlib.batch_frames` (--batch B ...) with one frame per run, at the
same threads: frames/s of `estimator.estimate` each way, in interleaved rounds (the order alternating),
reported as medians, the speedup as the median of the rounds' paired ratios; beside it what stacking
alone gains in bare `session.run` on ready-made inputs (B items one by one vs one stack of B). A
profile splits each path's time into rtmlib's preprocessing, session.run, rtmlib's postprocessing and
the rest (RGB->BGR, stacking, tracking). The stand-ins are exported with a symbolic batch (for both
tables), and the shipped models (--shipped) run through a copy with a symbolic batch and as shipped
(a fixed batch of 1: run item by item, grouped by stack).

    python -m benchmarks.bench_poses [--clips 4] [--frames 16] [--cost tiny light] [--threads 1] [--batch 8]
"""

import argparse
import os
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


def rtmlib_config(mode: str, det: str, pose: str, threads: int, sizes: dict | None = None, **rtmlib):
    """The poses config the benchmark runs: these models, threads and input sizes (+ any other rtmlib field)."""
    from schemas import PoseConfig

    return PoseConfig(backend="rtmlib", rtmlib=dict(mode=mode, det_model=det, pose_model=pose, threads=threads,
                                                    **(sizes or {}), **rtmlib))


def bench_mode(mode: str, det: str, pose: str, frames: np.ndarray, clip_len: int, threads: int, repeats: int,
               sizes: dict | None = None) -> dict:
    """Seconds for all frames: bare session.run, rtmlib calls, our estimator (sizes: det/pose_input_size)."""
    from pose_extraction import FrameContext, build_estimator
    from pose_extraction.tracking import track_main_person

    cfg = rtmlib_config(mode, det, pose, threads, sizes)
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


def paired_rounds(paths: dict, clips: list[np.ndarray], repeats: int, clock) -> dict[str, list[float]]:
    """Seconds per path for all clips in each round: paths interleaved clip by clip, their order alternating."""
    for fn in paths.values():
        fn(clips[0])  # warm-up
    names, spent = list(paths), {name: [] for name in paths}
    for round_ in range(repeats):
        total = dict.fromkeys(names, 0.0)
        for clip in clips:
            for name in names if round_ % 2 == 0 else names[::-1]:
                start = clock()
                paths[name](clip)
                total[name] += clock() - start
        for name in names:
            spent[name].append(total[name])
    return spent


class _TimedSession:
    """An onnxruntime session whose `run` is timed; everything else is the session's."""

    def __init__(self, session, run):
        self._session = session
        self.run = run

    def __getattr__(self, name):
        return getattr(self._session, name)


def profile_steps(estimator, clips: list[np.ndarray], clock) -> dict[str, float]:
    """Seconds of estimating all clips spent in rtmlib's preprocessing, session.run, postprocessing and the rest.

    Wraps the estimator's rtmlib tools for one pass, then restores them. RTMO's postprocessing is our
    NMS and map back to the frame (rtmlib's own is not called).
    """
    from pose_extraction import FrameContext

    spent = dict.fromkeys(("pre", "run", "post"), 0.0)

    def timed(step, fn):
        def call(*args, **kwargs):
            start = clock()
            out = fn(*args, **kwargs)
            spent[step] += clock() - start
            return out
        return call

    detect = estimator.detect
    tools = [detect.rtmo] if hasattr(detect, "rtmo") else [detect.det, detect.pose]
    sessions = [tool.session for tool in tools]
    post = [(detect, "_detections")] if hasattr(detect, "rtmo") else [(tool, "postprocess") for tool in tools]
    for tool in tools:
        tool.preprocess = timed("pre", tool.preprocess)
        tool.session = _TimedSession(tool.session, timed("run", tool.session.run))
    for owner, name in post:
        setattr(owner, name, timed("post", getattr(owner, name)))
    start = clock()
    for clip in clips:
        estimator.estimate(clip, FrameContext("bench", "bench.mp4", Path("."), tuple(range(len(clip))), (1, 1)))
    total = clock() - start
    for tool, session in zip(tools, sessions):  # the wrappers are instance attributes: drop them
        del tool.preprocess
        tool.session = session
    for owner, name in post:
        delattr(owner, name)
    return {**spent, "rest": total - sum(spent.values())}


def bare_stacking(sessions: list, batch: int, repeats: int, clock) -> list[float]:
    """Per (session, item shape): median of (`batch` one-item runs) / (one run of a stack of `batch`), ready inputs."""
    gains = []
    for session, shape in sessions:
        name = session.get_inputs()[0].name
        stack = np.random.default_rng(0).random((batch, *shape), dtype=np.float32) * 255
        ratios = []
        for _ in range(repeats + 1):  # the first round warms up
            start = clock()
            for i in range(batch):
                session.run(None, {name: stack[i:i + 1]})
            middle = clock()
            session.run(None, {name: stack})
            ratios.append((middle - start) / (clock() - middle))
        gains.append(float(np.median(ratios[1:])))
    return gains


def bench_batching(mode: str, det: str, pose: str, frames: np.ndarray, clip_len: int, threads: int, batch: int,
                   repeats: int, sizes: dict | None = None, device: str = "cpu") -> dict:
    """One frame per run vs `batch` frames per run at the same threads: medians, paired speedup, bare gain, profiles."""
    from pose_extraction import FrameContext, build_estimator

    one, batched = (build_estimator(rtmlib_config(mode, det, pose, threads, sizes, device=device, batch_frames=b),
                                    Path(".")) for b in (1, batch))
    clips = [frames[i:i + clip_len] for i in range(0, len(frames), clip_len)]

    def path(estimator):
        return lambda clip: estimator.estimate(clip, FrameContext("bench", "bench.mp4", Path("."),
                                                                   tuple(range(len(clip))), clip.shape[2:0:-1]))

    clock = time.process_time if threads == 1 else time.perf_counter
    spent = paired_rounds({"one": path(one), "batched": path(batched)}, clips, repeats, clock)
    cfg, detect = rtmlib_config(mode, det, pose, threads, sizes).rtmlib, one.detect
    if mode == "rtmo":
        sessions = [(detect.rtmo.session, (3, *cfg.det_input_size))]
    else:
        pose_w, pose_h = cfg.pose_input_size
        sessions = [(detect.det.session, (3, *cfg.det_input_size)), (detect.pose.session, (3, pose_h, pose_w))]
    stackable = not any(run.per_item for run in _runners(batched.detect))
    return {
        "one": float(np.median(spent["one"])), "batched": float(np.median(spent["batched"])),
        "speedup": float(np.median(np.array(spent["one"]) / np.array(spent["batched"]))),
        "bare": bare_stacking(sessions, batch, repeats, clock) if stackable else [],
        "profile_one": profile_steps(one, clips, clock), "profile_batched": profile_steps(batched, clips, clock),
    }


def _runners(detect) -> list:
    return [detect.run] if hasattr(detect, "rtmo") else [detect.det_run, detect.pose_run]


def standin_models(folder: Path, cost: str) -> dict[str, str]:
    """Export the tests' stand-ins at a compute cost, with a symbolic batch; returns .onnx paths by role."""
    from tests.onnx_models import export_models

    width, depth = COSTS[cost]
    models = export_models(folder / cost, width=width, depth=depth, dynamic_batch=True)
    return {role: str(path) for role, path in models.items()}


def shipped_models(clips: int, frames: int, size: tuple[int, int], folder: Path) -> tuple[dict, dict, np.ndarray]:
    """The shipped SynthDive models as shipped and as a copy with a symbolic batch (in `folder`), their input
    sizes, and SynthDive frames (evaluation seeds) of short side size[0]."""
    from pevl.pretrain.poses.data import render_clip
    from pose_extraction.models import resolve_model
    from tests.onnx_batch import with_symbolic_batch

    det, pose = "builtin:pose/synthdive_det.onnx", "builtin:pose/synthdive_pose.onnx"
    render = (160, 120) if size[0] < 120 else (round(size[1] * 240 / size[0]) // 2 * 2, 240)
    stored = np.concatenate([render_clip(4900, i, (*render, size[0]), frames).frames for i in range(clips)])
    sizes = {"det_input_size": (96, 128), "pose_input_size": (64, 64)}
    symbolic = {role: str(with_symbolic_batch(resolve_model(spec), folder / Path(spec).name))
                for role, spec in (("det", det), ("pose", pose))}
    sets = {"shipped SynthDive models": {**symbolic, "rtmo": ""},
            "shipped SynthDive models as shipped (fixed batch 1)": {"det": det, "pose": pose, "rtmo": ""}}
    return sets, sizes, stored


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


def batching_tables(rows: list[dict], num_frames: int) -> list[str]:
    """Markdown lines: frames/s one frame per run vs batched, the speedup, the bare gain, then each path's profile."""
    lines = [
        "| mode | models | batch | one frame per run fps | batched fps | speedup (median of paired rounds) "
        "| bare session.run, stack vs one by one |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        bare = " / ".join(f"{g:.2f}x" for g in row["bare"]) or "(fixed batch: one by one)"
        lines.append(f"| {row['mode']} | {row['label']} | {row['batch']} | {num_frames / row['one']:.1f} | "
                     f"{num_frames / row['batched']:.1f} | {row['speedup']:.2f}x | {bare} |")
    lines += ["", "| mode | models | path | preprocessing | session.run | postprocessing | rest | total (ms/frame) |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for path, name in (("profile_one", "one frame per run"), ("profile_batched", f"batch {row['batch']}")):
            ms = {step: 1000 * sec / num_frames for step, sec in row[path].items()}
            lines.append(f"| {row['mode']} | {row['label']} | {name} | {ms['pre']:.2f} | {ms['run']:.2f} | "
                         f"{ms['post']:.2f} | {ms['rest']:.2f} | {sum(ms.values()):.2f} |")
    return lines


def machine_line(threads: int, device: str) -> str:
    """CPU count, onnxruntime version and provider, threads and the load average now."""
    import onnxruntime

    return (f"machine: {os.cpu_count()} CPUs, onnxruntime {onnxruntime.__version__} on {device}, "
            f"threads {threads or 'default'}, load average {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16, help="stored frames per clip")
    parser.add_argument("--size", type=int, nargs=2, default=(128, 170), metavar=("H", "W"), help="stored frame size")
    parser.add_argument("--cost", nargs="+", choices=sorted(COSTS), default=["tiny", "light"])
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads per session (0 = its default); 1 as in a pose worker process")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; each clip counts its best round (batching: the median)")
    parser.add_argument("--batch", type=int, nargs="*", default=[8],
                        help="batch_frames to compare with one frame per run (none: skip that table)")
    parser.add_argument("--no-overhead", action="store_true", help="only the batching table")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="onnxruntime provider (batching table)")
    parser.add_argument("--det", help="real YOLOX model (.onnx or rtmlib URL); with --pose replaces the stand-ins")
    parser.add_argument("--pose", help="real RTMPose model")
    parser.add_argument("--rtmo", help="real RTMO model")
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped SynthDive models (builtin:pose/...) at their input sizes, on SynthDive frames")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the stand-ins live in tests/
    from pevl.console import say

    say(machine_line(args.threads, args.device))
    frames = make_frames(args.clips * args.frames, tuple(args.size))
    rows, batch_rows, sizes = [], [], None
    with tempfile.TemporaryDirectory() as tmp:
        if args.shipped:
            sets, sizes, frames = shipped_models(args.clips, args.frames, tuple(args.size), Path(tmp))
        elif args.det and args.pose or args.rtmo:
            sets = {"given": {"det": args.det or "", "pose": args.pose or "", "rtmo": args.rtmo or ""}}
        else:
            sets = {_cost_label(cost): standin_models(Path(tmp), cost) for cost in args.cost}
        for label, models in sets.items():
            for mode in ("body", "rtmo"):
                pose = models["rtmo"] if mode == "rtmo" else models["pose"]
                if not pose or (mode == "body" and not models["det"]):
                    continue
                if not args.no_overhead:
                    row = bench_mode(mode, models["det"], pose, frames, args.frames, args.threads, args.repeats, sizes)
                    rows.append({**row, "mode": mode, "label": label})
                for batch in args.batch:
                    row = bench_batching(mode, models["det"], pose, frames, args.frames, args.threads, batch,
                                         args.repeats, sizes, args.device)
                    batch_rows.append({**row, "mode": mode, "label": label, "batch": batch})
    clock = "process CPU time" if args.threads == 1 else "wall time"
    say(f"{len(frames)} frames of {args.size[1]}x{args.size[0]} ({args.clips} clips x {args.frames}), "
        f"onnxruntime threads: {args.threads or 'default'}, {clock}")
    if rows:
        say(f"overhead, each clip's best of {args.repeats} interleaved rounds:")
        for line in table(rows, len(frames)):
            say(line)
    if batch_rows:
        say(f"batch_frames vs one frame per run, medians of {args.repeats} interleaved rounds:")
        for line in batching_tables(batch_rows, len(frames)):
            say(line)
    say(machine_line(args.threads, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
