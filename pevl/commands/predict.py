"""`pevl predict INPUT... --model CHECKPOINT|URI`: classify videos with a trained model, as `pevl evaluate` would."""

import argparse
import logging

from pevl.console import say

log = logging.getLogger("pevl.predict")
VIDEO_WIDTH = 36  # characters of the video column; longer paths keep their end


def views(text: str) -> tuple[int, int]:
    """'2x1' -> (2, 1): temporal clips x spatial crops."""
    clips, sep, crops = text.lower().partition("x")
    if not (sep and clips.isdigit() and crops.isdigit() and int(clips) > 0 and int(crops) > 0):
        raise argparse.ArgumentTypeError(f"expected CLIPSxCROPS such as 2x1, got {text!r}")
    return int(clips), int(crops)


def positive(text: str) -> int:
    """An integer of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):  # nan fails too
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    """Register `predict`."""
    p = subparsers.add_parser(
        "predict", help="classify videos with a trained checkpoint (the preprocessing it was trained with)",
        description="Classify video files with a checkpoint written by `pevl train`, or a model logged to MLflow "
                    "(runs:/RUN_ID, models:/NAME/VERSION, models:/NAME@ALIAS): each video is decoded, "
                    "posed and cropped by the functions the stages and `pevl evaluate` use. A video longer than 3 "
                    "training clips is scored in windows, one row each. A video that "
                    "cannot be read, or shows no person, becomes a rejected row with its reason. "
                    "Exit status: 0 done, 1 no video could be predicted, 2 a fault of the system or the input list.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (searched for .mp4 / .mkv / .webm), or .txt files listing "
                        "one video per line (PATH, or PATH<TAB>START<TAB>END for a frame range)")
    p.add_argument("--model", required=True, metavar="CHECKPOINT|URI",
                   help="a best.pt / last.pt written by `pevl train`, or a model URI: runs:/RUN_ID (a training "
                        "run's model), models:/NAME/VERSION or models:/NAME@ALIAS (a registered one)")
    p.add_argument("--tracking-uri", default=None, metavar="URI",
                   help="the MLflow server of a model URI (default $MLFLOW_TRACKING_URI, else work/demo/mlflow.db)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write DIR/predictions.parquet (one row per video) and DIR/config.yaml (the model's config)")
    p.add_argument("--top-k", type=positive, default=5, help="classes listed per video (default 5)")
    p.add_argument("--views", type=views, default=None, metavar="CLIPSxCROPS",
                   help="evaluation views averaged per video (default: the model's train.eval_clips x eval_crops)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs (default auto)")
    p.add_argument("--windows", choices=("auto", "always", "never"), default=None,
                   help="score videos in windows (one row each): auto (default) windows a video longer than 3 "
                        "training clips and scores shorter ones whole; always windows every video (the default when "
                        "--window-s or --stride-s is given); never scores every video whole")
    p.add_argument("--window-s", type=seconds, default=None, metavar="SECONDS",
                   help="window length (default: the median length of the model's training clips, measured from "
                        "the clip index of its training data)")
    p.add_argument("--stride-s", type=seconds, default=None, metavar="SECONDS",
                   help="step between window starts (default half the window)")
    p.add_argument("--labels", default=None, metavar="FILE",
                   help="score against these class texts instead of the model's classes, through its text tower: "
                        "one text per line, or a .yaml / .yml mapping NAME: TEXT")
    p.add_argument("--render", action="store_true",
                   help="write DIR/render/<video>.mp4: the frames the model saw with the tracked person's box and "
                        "skeleton, the predicted class and its probability (needs --out)")
    p.set_defaults(func=run)


def _video_label(row) -> str:
    if row.window is not None:
        text = f"{row.path} @{row.start_s:.1f}-{row.end_s:.1f}s"
    else:
        text = row.path if row.end_frame is None else f"{row.path} [{row.start_frame}:{row.end_frame}]"
    return text if len(text) <= VIDEO_WIDTH else "..." + text[-(VIDEO_WIDTH - 3):]


def table_lines(rows: list, top_k: int) -> list[str]:
    """The console table: video, top-1 class and probability, the top-k names (or the reject reason)."""
    width = max([len("top-1")] + [len(r.top_names[0]) for r in rows if r.top_names])
    lines = [f"{'video':<{VIDEO_WIDTH}}  {'top-1':<{width}}  {'prob':>5}  top-{top_k}"]
    for r in rows:
        if r.status == "ok":
            lines.append(f"{_video_label(r):<{VIDEO_WIDTH}}  {r.top_names[0]:<{width}}  {r.top_probs[0]:5.2f}  "
                         f"{', '.join(r.top_names)}")
        else:
            lines.append(f"{_video_label(r):<{VIDEO_WIDTH}}  rejected: {r.reason}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Predict every input video; print the table and the summary line."""
    from pathlib import Path

    from pevl.predict.inputs import InputError, collect_videos
    from pevl.predict.predict import PREDICTIONS, RENDERS, TIMELINES, predict_videos, summary_line
    from pevl.predict.vocabulary import LabelsError
    from pevl.storage.outputs import StageError

    clips, crops = args.views or (None, None)
    lengths = args.window_s is not None or args.stride_s is not None
    if args.windows == "never" and lengths:
        log.error("predict: --window-s and --stride-s need windows: they cannot go with --windows never")
        return 2
    windows = args.windows or ("always" if lengths else "auto")
    try:
        videos = collect_videos(args.inputs)
        rows = predict_videos(videos, args.model, args.out, args.top_k, clips, crops, args.device,
                              tracking_uri=args.tracking_uri, windows=windows, window_s=args.window_s,
                              stride_s=args.stride_s, labels=args.labels, render=args.render)
    except (InputError, LabelsError, StageError) as e:
        log.error("%s", e)
        return 2
    for line in table_lines(rows, args.top_k):
        say(line)
    say(f"predict: {summary_line(rows)}")
    if args.out:
        say(f"  predictions  {Path(args.out) / PREDICTIONS}")
        if any(r.window is not None for r in rows):
            say(f"  timelines    {Path(args.out) / TIMELINES}")
        if args.render:
            say(f"  render       {Path(args.out) / RENDERS}")
    return 0 if any(r.status == "ok" for r in rows) else 1
