"""`pevl model-info CONFIG [--set k=v]`: parameters per submodule and GFLOPs per clip."""

import argparse

from pevl.commands.common import add_config_args, load_from_args
from pevl.console import say


def add_parser(subparsers) -> None:
    """Register `model-info`."""
    p = subparsers.add_parser(
        "model-info", help="total / trainable parameters per submodule and GFLOPs per clip of the model",
        description="Build the model of CONFIG (placeholder class texts) and count it. To count a "
                    "backbone without its weights: --set model.pretrained=null",
    )
    add_config_args(p)
    p.add_argument("--classes", type=int, default=48, help="number of classes (default 48, Diving48)")
    p.add_argument("--no-flops", action="store_true", help="count parameters only")
    p.add_argument("--flop-frames", type=int, nargs="*", default=[8, 16],
                   help="also give the GFLOPs of a clip of these many frames (default 8 16; none: only "
                        "model.num_frames)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the parameter table and the FLOPs of one clip."""
    from pevl.model.info import format_info, model_info

    cfg = load_from_args(args)
    info = model_info(cfg.model, num_classes=args.classes, flops=not args.no_flops, flop_frames=tuple(args.flop_frames))
    for line in format_info(info):
        say(line)
    return 0
