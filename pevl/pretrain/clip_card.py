"""MODEL_CARD.md of the tiny CLIP, written from the record that `pretrain_clip` saves beside the weights."""

from pathlib import Path

HEADER = """# synthclip-tiny: a tiny CLIP pretrained on captioned SynthDive frames

**A stand-in for CLIP weights, for the embedded demo only.** It has seen nothing but procedurally
rendered diving frames; it is not a general image-text model. On real data use OpenAI's or
another open_clip checkpoint (`model.pretrained: openai`); nothing else in a config changes.
"""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _figures(figures: dict) -> list[str]:
    lines = [f"Measured on {next(iter(figures['sizes'].values()))['clips']} fresh clips (render seed "
             f"{figures['render_seed']}, never used in training), 8 segment-centre frames each, "
             + ("the demo's person box (`train.crop: person`, margin 1.6):" if figures.get("crop") == "person"
                else "centre crop of the short-side-96 frame:"), "",
             "| image size | R@1 | R@5 | captions | probe phase, balanced (chance) | probe shape in flight, balanced (chance) | spread | zero-shot top-1 |",
             "|---|---|---|---|---|---|---|---|"]
    for size, f in figures["sizes"].items():
        ph, sh = f["probe_phase"], f["probe_shape"]
        lines.append(f"| {size} px | {_pct(f['r@1'])} | {_pct(f['r@5'])} | {f['distinct_captions']} | "
                     f"{_pct(ph['balanced'])} ({_pct(1 / ph['classes'])}) | {_pct(sh['balanced'])} ({_pct(1 / sh['classes'])}) | "
                     f"{f['spread']:.2f} | {_pct(f['zero_shot_top1'])} |")
    baseline = figures.get("random")
    if baseline:
        lines += ["", "The same figures for the randomly initialised pevl-tiny (what the demo used before):", "",
                  "| image size | R@1 | R@5 | probe phase | probe shape | spread | zero-shot top-1 |", "|---|---|---|---|---|---|---|"]
        for size, f in baseline["sizes"].items():
            lines.append(f"| {size} px | {_pct(f['r@1'])} | {_pct(f['r@5'])} | {_pct(f['probe_phase']['balanced'])} | "
                         f"{_pct(f['probe_shape']['balanced'])} | {f['spread']:.2f} | {_pct(f['zero_shot_top1'])} |")
    return lines


def _frames_line(crop: str) -> str:
    if crop == "person":
        return ("- Frames as the demo sees them with `train.crop: person`: 160x120 render, the square box that follows the "
                "diver (side 1.3-2.2 x the clip's joint extent, drawn per clip; `pevl/data/person_crop.py`) resized to 96, "
                "JPEG; the trainer takes random resized crops (area 60-100%) at 64 px.")
    return ("- Frames as the demo sees them: 160x120 render, short side 96, a 96x96 crop at a random offset, "
            "JPEG; the trainer takes random resized crops (area 60-100%) at 64 px.")


def model_card(record: dict) -> str:
    """The card's Markdown text."""
    cfg, data, w, sec = record["config"], record["data"], record["weights"], record["seconds"]
    lines = [HEADER, "## Model",
             f"- open_clip architecture `{cfg['model']}` (`pevl/assets/{cfg['model']}.json`), weights "
             f"`{w['file']}`: {w['dtype']} state dict, {w['bytes'] / 1e6:.1f} MB, sha256 `{w['sha256']}`.",
             f"- Load: `model.backbone: {cfg['model']}`, `model.pretrained: pevl/assets/models/clip/{w['file']}` "
             "(any `model.image_size`; open_clip resizes the position embedding).", "",
             "## Data and captions",
             f"- {data['samples']} frames of {data['clips']} SynthDive clips ({data['frames_per_clip']} per clip, "
             f"phase-balanced), render seed {data['seed']} (pretraining seeds 1000-1999; every config renders "
             f"with seed 0 or 1), {data['distinct_captions']} distinct captions; WebDataset tars of (jpg, txt), "
             f"sha256 of the tars `{data['sha256']}`.",
             _frames_line(cfg.get("crop", "frame")),
             "- Captions are written from the renderer's state (`pevl/synth/captions.py`): phase, orientation, "
             "shape, twisting, facing (board or water, camera), splash, framing, venue, board height. Never the "
             "class name, a somersault or twist count or the takeoff group.", "",
             "## Training",
             f"- open_clip's own trainer (`{record['trainer']['package']}` {record['trainer']['version']}), CPU, "
             f"seed {cfg['seed']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']}, "
             f"wd {cfg['wd']}, warmup {cfg['warmup']} steps, {cfg['threads']} torch thread(s), "
             f"{cfg['workers']} loader process(es).",
             f"- {sec['total']:.0f} s wall ({sec['render']:.0f} s rendering), {sec['cpu']:.0f} CPU s, on the "
             "shared 2-core machine.",
             f"- Command: `pevl pretrain clip --out pevl/assets/models/clip/{w['file']}` (defaults = these "
             "settings); trainer command line in the `.json` beside the weights.", ""]
    if "figures" in record:
        lines += ["## Measured", *_figures(record["figures"]), ""]
    return "\n".join(lines)


def write_model_card(record: dict, folder: Path) -> Path:
    """Write folder/MODEL_CARD.md; returns its path."""
    path = Path(folder) / "MODEL_CARD.md"
    path.write_text(model_card(record))
    return path
