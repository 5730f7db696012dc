"""Prefect flow `pretrain-clip`: the embedded tiny CLIP (one task around `pretrain_clip`, one around `measure`).

    python -m flows.pretrain_clip [--out FILE] [--work-dir DIR]   # or the `pretrain-clip` deployment

Tasks pass paths and small records only; the work is `pevl.pretrain.clip.train` (`clip.dense`) / `clip.eval`.
"""

import argparse
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

DEFAULT_OUT = "work/synthclip/synthclip-tiny.pt"
DEFAULT_WORK = "work/synthclip"


@task(name="pretrain-clip-train", cache_policy=NO_CACHE)
def train_task(work: str, out: str, settings: dict) -> dict:
    """Render the captioned frames, run the trainer (open_clip_train or the dense one), write the weights; returns the record."""
    from pevl.pretrain.clip.train import pretrain
    from schemas.pretrain import ClipPretrainConfig

    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return pretrain(ClipPretrainConfig(**fixed), Path(work), Path(out))


@task(name="pretrain-clip-measure", cache_policy=NO_CACHE)
def measure_task(model: str, weights: str, clips: int, crop: str = "frame") -> dict:
    """The item-4 figures of the weights on a fresh rendering, stored in the weights' .json and model card."""
    import json

    from pevl.pretrain.clip.card import write_model_card
    from pevl.pretrain.clip.eval import measure

    figures = measure(model, weights, clips=clips, baseline=True, crop=crop)
    path = Path(weights).with_suffix(".json")
    record = {**json.loads(path.read_text()), "figures": figures}
    path.write_text(json.dumps(record, indent=1))
    write_model_card(record, path.parent)
    return figures


@flow(name="pretrain-clip")
def pretrain_clip_flow(out: str | None = None, work_dir: str | None = None, settings: dict | None = None,
                       eval_clips: int = 192) -> dict:
    """Pretrain the tiny CLIP into `out` (default work/synthclip/synthclip-tiny.pt) and measure it."""
    from schemas.pretrain import ClipPretrainConfig

    merged = {**ClipPretrainConfig().model_dump(), **(settings or {})}
    out = str(Path(out or DEFAULT_OUT).resolve())
    record = train_task(str(Path(work_dir or DEFAULT_WORK).resolve()), out, merged)
    summary = {"weights": out, "sha256": record["weights"]["sha256"], "seconds": record["seconds"]}
    if eval_clips > 0:
        figures = measure_task(merged["model"], out, eval_clips, merged["crop"])
        summary["r@1"] = {size: f["r@1"] for size, f in figures["sizes"].items()}
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run the flow once from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--eval-clips", type=int, default=192)
    args = parser.parse_args(argv)
    pretrain_clip_flow(args.out, args.work_dir, None, args.eval_clips)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
