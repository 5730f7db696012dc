"""`pevl synth`: render SynthDive in Diving48's layout, and/or a preview contact sheet."""

import argparse


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got {text!r}") from None
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size sides must be even and >= 32, got {text!r}")
    return w, h


def add_parser(subparsers) -> None:
    """Register `pevl synth`."""
    p = subparsers.add_parser(
        "synth", help="render the SynthDive dataset (Diving48 layout + keypoints) or a preview sheet",
        description="Render SynthDive into --out and/or write a --preview contact sheet.",
    )
    p.add_argument("--out", help="dataset folder to write (Diving48 layout + keypoints/)")
    p.add_argument("--clips-per-class", type=int, default=4, help="clips per class, >= 2 (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=_size, default=(320, 240), help="video (and preview render) WxH, even sides (default 320x240)")
    p.add_argument("--workers", type=int, default=0, help="render processes; 0 = all cores (default)")
    p.add_argument("--test-fraction", type=float, default=0.25, help="share of each class in the test split")
    p.add_argument("--preview", help="write a PNG contact sheet here")
    p.add_argument("--attributes", default="takeoff,position",
                   help="attributes that vary between preview rows (of takeoff, somersault, twist, position)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and/or the preview."""
    from pevl.console import say

    if not args.out and not args.preview:
        say("pevl synth: give --out DIR and/or --preview FILE.png")
        return 2
    if args.out:
        from pathlib import Path

        from pevl.synth import generate_synthdive

        summary = generate_synthdive(Path(args.out), args.clips_per_class, args.seed, args.size,
                                     args.workers, args.test_fraction)
        say(f"SynthDive: {summary['clips']} clips ({summary['train']} train, {summary['test']} test), "
            f"{summary['frames']} frames, {summary['seconds']:.1f} s with {summary['workers']} workers -> {args.out}")
    if args.preview:
        from pevl.synth import write_preview

        attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
        path = write_preview(args.preview, attributes, seed=args.seed, size=args.size)
        say(f"preview ({'+'.join(attributes)}) -> {path}")
    return 0
