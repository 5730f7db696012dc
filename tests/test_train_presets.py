"""Real-data presets: paper scale (8 x 224 px, OpenAI CLIP, rtmlib body, AMP, CUDA, DDP-ready batches)."""

from pathlib import Path

import pytest

from schemas import load_config

ROOT = Path(__file__).resolve().parents[1]
PRESETS = [f"{d}-{b}" for d in ("diving48", "gym99", "gym288", "haa500") for b in ("vitb16", "vitl14")]
DATASETS = {"diving48": "diving48", "gym99": "finegym99", "gym288": "finegym288", "haa500": "haa500"}


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_paper_scale(name):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    dataset, backbone = name.split("-")
    assert cfg.dataset.name == DATASETS[dataset] and cfg.name == name
    assert cfg.model.backbone == {"vitb16": "ViT-B-16", "vitl14": "ViT-L-14"}[backbone]
    assert cfg.model.pretrained == "openai" and cfg.model.num_frames == 8 and cfg.model.image_size == 224
    assert cfg.poses.backend == "rtmlib" and cfg.poses.rtmlib.mode == "body"
    assert cfg.train.amp == "bf16" and cfg.train.device == "cuda"
    assert cfg.decode.short_side >= cfg.model.image_size and cfg.decode.frames >= cfg.model.num_frames
    # the same clips per GPU per update for both backbones, so one lr schedule scales with processes
    assert cfg.train.batch_size * cfg.train.grad_accum == 16
    ddp = load_config(ROOT / "configs" / f"{name}.yaml", ["train.processes=8"])
    assert ddp.train.processes == 8 and ddp.model == cfg.model


def test_open_clip_ships_the_preset_backbone_configs():
    import importlib.util

    folder = Path(importlib.util.find_spec("open_clip").submodule_search_locations[0]) / "model_configs"
    assert (folder / "ViT-B-16.json").is_file() and (folder / "ViT-L-14.json").is_file()
