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


def _frames_line(crop: str, size: int = 64) -> str:
    if crop == "person":
        return ("- Frames as the demo sees them with `train.crop: person`: 160x120 render, the square box that follows the "
                "diver (side 1.3-2.2 x the clip's joint extent, drawn per clip; `pevl/data/person_crop.py`) resized to 96, "
                f"JPEG; the trainer takes random resized crops (area 60-100%) at {size} px.")
    return ("- Frames as the demo sees them: 160x120 render, short side 96, a 96x96 crop at a random offset, "
            f"JPEG; the trainer takes random resized crops (area 60-100%) at {size} px.")


def _training_lines(record: dict) -> list[str]:
    """What trained the file, and the one command that makes it again."""
    cfg, w, trainer, sec = record["config"], record["weights"], record["trainer"], record["seconds"]
    wall = (f"- {sec['total']:.0f} s wall ({sec['render']:.0f} s rendering), {sec['cpu']:.0f} CPU s, on the "
            "shared 2-core machine.")
    common = (f"seed {cfg['seed']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, lr {cfg['lr']}, "
              f"wd {cfg['wd']}, warmup {cfg['warmup']} steps, {cfg['threads']} torch thread(s)")
    if cfg.get("joint_weight", 0) <= 0:
        return [f"- open_clip's own trainer (`{trainer['package']}` {trainer['version']}), CPU, {common}, "
                f"{cfg['workers']} loader process(es).", wall,
                f"- Command: `pevl pretrain clip --out pevl/assets/models/clip/{w['file']}` (defaults = these "
                "settings); trainer command line in the `.json` beside the weights."]
    last = trainer["training"]["epochs"][-1]
    return [f"- The project's dense trainer (`pevl/pretrain/clip/dense.py`), CPU, {common}, at {cfg['image_size']} px.",
            f"- Objective: {trainer['objective']}: besides the captions, a linear head on every patch token learns where "
            "each of the 17 joints of the renderer's diver lies (the head is not shipped). Last epoch: caption loss "
            f"{last['loss_clip']:.2f}, joint BCE {last['loss_joints']:.4f}, the head's argmax patch is the joint's on "
            f"{_pct(last['joint_patch_accuracy'])} of the visible joints of the training frames.", wall,
            f"- Command: `pevl pretrain clip --joint-weight {cfg['joint_weight']:g} --image-size {cfg['image_size']} "
            f"--crop {cfg['crop']} --clips {cfg['clips']} --epochs {cfg['epochs']} --batch-size {cfg['batch_size']} "
            f"--lr {cfg['lr']:g} --threads {cfg['threads']} --out pevl/assets/models/clip/{w['file']}`."]


def model_card(record: dict) -> str:
    """The card's Markdown text."""
    cfg, data, w = record["config"], record["data"], record["weights"]
    lines = [HEADER, "## Model",
             f"- open_clip architecture `{cfg['model']}` (`pevl/assets/{cfg['model']}.json`), weights "
             f"`{w['file']}`: {w['dtype']} state dict, {w['bytes'] / 1e6:.1f} MB, sha256 `{w['sha256']}`.",
             f"- Load: `model.backbone: {cfg['model']}`, `model.pretrained: pevl/assets/models/clip/{w['file']}` "
             "(any `model.image_size`; open_clip resizes the position embedding).", "",
             "## Data and captions",
             f"- {data['samples']} frames of {data['clips']} SynthDive clips ({data['frames_per_clip']} per clip, "
             f"phase-balanced), render seed {data['seed']} (pretraining seeds 1000-1999; every config renders "
             f"with seed 0 or 1), {data['distinct_captions']} distinct captions; "
             + (f"WebDataset tars of (jpg, txt), sha256 of the tars `{data['sha256']}`." if "storage" not in data else
                f"rendered into memory by the trainer with each frame's joints, sha256 of frames, joints and captions "
                f"`{data['sha256']}`."),
             _frames_line(cfg.get("crop", "frame"), cfg.get("image_size", 64) if cfg.get("joint_weight", 0) > 0 else 64),
             "- Captions are written from the renderer's state (`pevl/synth/captions.py`): phase, orientation, "
             "shape, twisting, facing (board or water, camera), splash, framing, venue, board height. Never the "
             "class name, a somersault or twist count or the takeoff group.", "",
             "## Training", *_training_lines(record), ""]
    if "figures" in record:
        lines += ["## Measured", *_figures(record["figures"]), ""]
    return "\n".join(lines)


def write_model_card(record: dict, folder: Path) -> Path:
    """Write folder/MODEL_CARD.md; returns its path."""
    path = Path(folder) / "MODEL_CARD.md"
    path.write_text(model_card(record))
    return path
