"""`pevl pretrain KIND`: build the project's own stand-in models on SynthDive.

Each kind lives in its own module `pevl.pretrain.<kind>_cli`, which defines
`add_arguments(parser)` and `run(args) -> int`; heavy imports happen inside `run`.
"""

import argparse
import importlib

# kind -> (module under pevl.pretrain, one-line help)
KINDS: dict[str, tuple[str, str]] = {
    "clip": ("clip_cli", "a tiny CLIP pretrained on captioned SynthDive frames (the embedded backbone)"),
    "poses": ("poses_cli", "small YOLOX + RTMPose ONNX models trained on SynthDive (the embedded pose detector)"),
}


def add_parser(subparsers) -> None:
    """Register `pevl pretrain` and one sub-command per kind."""
    p = subparsers.add_parser("pretrain", help="pretrain the embedded stand-in models on SynthDive",
                              description="Pretrain the project's own small models on SynthDive renders.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    for kind, (module, text) in KINDS.items():
        sp = kinds.add_parser(kind, help=text, description=text)
        try:
            mod = importlib.import_module(f"pevl.pretrain.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"pevl.pretrain.{module}":
                raise
            continue
        mod.add_arguments(sp)
        sp.set_defaults(func=mod.run)
    p.set_defaults(func=_usage(p))


def _usage(parser: argparse.ArgumentParser):
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return run
