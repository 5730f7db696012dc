"""GPU preset of bench_train: ViT-B/16, 8 frames x 224 px, bf16 AMP — clips/s, and does the loader feed it?

Prepared for a GPU machine (not run here: this project's machine has no GPU). It renders a small
SynthDive at 320x240, stores frames at short side 256 (as the paper presets), and measures:
the train step on ViT-B/16 (random init: no weights needed for speed) with batch 16 under bf16
autocast, CUDA peak memory, and the loader with 8 worker processes producing 8 x 224 px clips.
The last line says whether the loader keeps up (loader clips/s >= step clips/s).

    python -m benchmarks.bench_train_gpu                     # on a CUDA machine
    python -m benchmarks.bench_train_gpu --device cpu --tiny # smoke run of the same code on a CPU
"""

import argparse

from benchmarks.bench_train import add_args, report, run
from pevl.console import say

GPU = {"device": "cuda", "backbone": "ViT-B-16", "image_size": 224, "frames": 8, "batch": 16, "amp": "bf16",
       "workers": 8, "threads": 0, "short_side": 256, "size": "320x240"}
TINY = {"device": "cpu", "backbone": "pevl-tiny", "image_size": 32, "frames": 4, "batch": 4, "amp": "none",
        "workers": 1, "threads": 1, "short_side": 96, "size": "160x120"}


def main(argv: list[str] | None = None) -> None:
    """Run the GPU preset (or, with --tiny, the same code at CPU size) and print the table."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--tiny", action="store_true", help="tiny model and sizes (CPU smoke run)")
    known, rest = pre.parse_known_args(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 parents=[pre])
    add_args(ap, **(TINY if known.tiny else GPU))
    args = ap.parse_args(argv)
    result = run(args)
    report(args, result)
    verdict = "yes" if result["ratio"] >= 1.0 else "NO: add loader workers or store smaller frames"
    say(f"\nloader feeds the step: {verdict} (loader {result['loader_clips_per_s']:.1f} clips/s vs "
          f"step {result['clips_per_s']:.1f} clips/s)")


if __name__ == "__main__":
    main()
