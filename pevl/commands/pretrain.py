"""`pevl pretrain KIND`: build the project's own stand-in models on SynthDive.

Each kind has its own command module, `pevl.pretrain.<kind>.cli`, which defines
`add_arguments(parser)` and `run(args) -> int`. Those modules import only argparse and their
settings schema, so `pevl --help` stays light; torch and the trainers are imported inside `run`.
"""

import argparse

from pevl.pretrain.clip import cli as clip_cli
from pevl.pretrain.poses import cli as poses_cli

# kind -> (command module, one-line help)
KINDS = {
    "clip": (clip_cli, "a tiny CLIP pretrained on captioned SynthDive frames (the embedded backbone)"),
    "poses": (poses_cli, "small YOLOX + RTMPose ONNX models trained on SynthDive (the embedded pose detector)"),
}


def add_parser(subparsers) -> None:
    """Register `pevl pretrain` and one sub-command per kind."""
    p = subparsers.add_parser("pretrain", help="pretrain the embedded stand-in models on SynthDive",
                              description="Pretrain the project's own small models on SynthDive renders.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    for kind, (module, text) in KINDS.items():
        sp = kinds.add_parser(kind, help=text, description=text)
        module.add_arguments(sp)
        sp.set_defaults(func=module.run)
    p.set_defaults(func=_usage(p))


def _usage(parser: argparse.ArgumentParser):
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2
    return run
