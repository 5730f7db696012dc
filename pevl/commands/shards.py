"""`pevl shards verify DIR`: check every sample of a shards folder; exit 1 naming each defect."""

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `pevl shards verify`."""
    p = subparsers.add_parser("shards", help="inspect WebDataset shards")
    sub = p.add_subparsers(dest="shards_command", metavar="ACTION", required=True)
    v = sub.add_parser("verify", help="check keys, shapes, dtypes, labels and the manifest of every sample")
    v.add_argument("dir", help="a shards folder (work_dir/shards/<hash>)")
    v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Verify a shards folder; print every defect; 0 when there are none."""
    from pevl.console import say
    from pevl.shards.verify import verify_shards

    samples, defects = verify_shards(args.dir)
    for defect in defects:
        say(f"DEFECT {defect}")
    say(f"{samples} samples checked, {len(defects)} defect(s) in {args.dir}")
    return 1 if defects else 0
