"""`pevl pretrain clip`: pretrain the tiny CLIP on captioned SynthDive frames, and/or measure one."""

import argparse
from pathlib import Path

from schemas.pretrain import CROPS, ClipPretrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `pevl pretrain clip` (defaults: the shipped model's settings)."""
    d = ClipPretrainConfig()
    parser.add_argument("--out", default="work/synthclip/synthclip-tiny.pt",
                        help="weights file to write (an fp32 open_clip state dict; a .json record and MODEL_CARD.md go beside it)")
    parser.add_argument("--work-dir", default="work/synthclip", help="data tars, trainer logs and checkpoints")
    parser.add_argument("--model", default=d.model, help=f"open_clip config name (default {d.model})")
    parser.add_argument("--clips", type=int, default=d.clips, help=f"clips to render (default {d.clips})")
    parser.add_argument("--frames-per-clip", type=int, default=d.frames_per_clip, help="captioned frames per clip")
    parser.add_argument("--render-seed", type=int, default=d.render_seed, help="render seed, 1000-1999")
    parser.add_argument("--seed", type=int, default=d.seed, help="trainer seed")
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--threads", type=int, default=d.threads, help=f"torch threads of the trainer (default {d.threads})")
    parser.add_argument("--workers", type=int, default=d.workers, help="data loader processes (default 1)")
    parser.add_argument("--crop", choices=CROPS, default=None,
                        help="frames as the demo's frame-wide square or its person box (default: with --eval-only "
                             f"the crop the weights' .json record names, else {d.crop})")
    parser.add_argument("--joint-weight", type=float, default=d.joint_weight,
                        help="weight of the dense joint loss (patch tokens predict each joint's place); > 0 trains "
                             f"in this process (pevl/pretrain/clip/dense.py), 0 with open_clip_train (default {d.joint_weight:g})")
    parser.add_argument("--image-size", type=int, default=d.image_size,
                        help=f"training image size with --joint-weight > 0 (default {d.image_size})")
    parser.add_argument("--eval-clips", type=int, default=192,
                        help="fresh clips (render seed 2000) to measure the result on; 0 = skip (default 192)")
    parser.add_argument("--eval-only", metavar="WEIGHTS", help="only measure this weights file (no training)")


def _config(args: argparse.Namespace) -> ClipPretrainConfig:
    names = set(ClipPretrainConfig.model_fields)
    return ClipPretrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def eval_crop(crop: str | None, weights: Path) -> str:
    """The crop to measure `weights` on: the one asked for, else the one its .json record says it was
    trained on (a person-crop file measured on whole frames would look worse than it is), else the default.
    A record older than the crop option (the shipped file's) was trained on the default framing."""
    import json

    from schemas import ConfigError

    default = ClipPretrainConfig().crop
    record = weights.with_suffix(".json")
    if crop is not None or not record.is_file():
        return crop or default
    try:
        config = json.loads(record.read_text())["config"]
        trained = config.get("crop", default)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"{record}: the weights' record has no readable config ({e!r}); pass --crop") from e
    if trained not in CROPS:
        raise ConfigError(f"{record}: config.crop is {trained!r}, not {' or '.join(CROPS)}; pass --crop")
    return trained


def _report(figures: dict) -> None:
    from pevl.console import say

    for size, f in figures["sizes"].items():
        say(f"{size} px: R@1 {f['r@1']:.1%} R@5 {f['r@5']:.1%} over {f['distinct_captions']} captions; "
            f"probe (balanced) phase {f['probe_phase']['balanced']:.1%}, shape in flight {f['probe_shape']['balanced']:.1%}; "
            f"spread {f['spread']:.2f}; zero-shot top-1 {f['zero_shot_top1']:.1%}")


def run(args: argparse.Namespace) -> int:
    """Pretrain (unless --eval-only), then measure on a fresh rendering."""
    import json

    import torch

    from pevl.console import say

    torch.set_num_threads(args.threads)
    weights = Path(args.eval_only or args.out)
    if not args.eval_only:
        from pevl.pretrain.clip.train import pretrain

        record = pretrain(_config(args), Path(args.work_dir), weights)
        say(f"pretrained {args.model} in {record['seconds']['total']:.0f} s ({record['seconds']['cpu']:.0f} CPU s) "
            f"on {record['data']['samples']} captioned frames -> {weights}")
    if args.eval_clips > 0:
        from pevl.pretrain.clip.eval import measure

        crop = eval_crop(args.crop, weights)
        figures = measure(args.model, str(weights), clips=args.eval_clips, baseline=not args.eval_only, crop=crop)
        _report(figures)
        if not args.eval_only:
            from pevl.pretrain.clip.card import write_model_card

            path = weights.with_suffix(".json")
            record = {**json.loads(path.read_text()), "figures": figures}
            path.write_text(json.dumps(record, indent=1))
            say(f"model card -> {write_model_card(record, weights.parent)}")
    return 0
