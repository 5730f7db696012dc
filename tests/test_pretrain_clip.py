"""The embedded tiny CLIP: captioned tars, open_clip_train end to end, the shipped weights and their figures."""

import json
import logging

import numpy as np
import pytest
import torch

from pevl.pretrain.clip.data import ensure_shards, write_shards
from pevl.pretrain.clip.eval import linear_probe, make_eval_set, retrieval, spread
from pevl.pretrain.clip.model import SHIPPED, file_sha256
from tiny_model import one_thread, tiny_cfg, tiny_classes  # noqa: F401 (one_thread: autouse fixture)

log = logging.getLogger(__name__)



def test_shards_hold_jpg_txt_pairs_and_are_reused(tmp_path):
    import webdataset as wds

    manifest = write_shards(tmp_path, clips=6, seed=1000, frames=4, shard_size=10)
    assert manifest["samples"] == 24 and len(manifest["shards"]) == 3
    samples = list(wds.WebDataset(sorted(str(p) for p in tmp_path.glob("clip-*.tar")), shardshuffle=False)
                   .decode("rgb8"))
    assert len(samples) == 24
    for s in samples:
        assert s["jpg"].shape == (96, 96, 3) and s["txt"].startswith("a diver ")
        assert s["json"]["phase"] in s["txt"] or s["json"]["phase"] == "on the board"
    again = ensure_shards(tmp_path, clips=6, seed=1000, frames=4, shard_size=10)
    assert again == manifest  # same bytes (fixed tar mtime), so the same hash: reused
    with pytest.raises(ValueError, match="1000-1999"):
        write_shards(tmp_path / "x", clips=2, seed=0, frames=2)
    with pytest.raises(ValueError, match="2000-2999"):
        make_eval_set(2, seed=1000)


def test_person_crop_pictures_follow_the_diver_and_name_their_own_framing(tmp_path):
    from pevl.pretrain.clip.data import clip_pairs, plan_clips
    from pevl.synth.render import build_scene, keypoints
    from pevl.synth.vocab import dive_classes

    plan = plan_clips(1, 1000)[0]
    person, frame = clip_pairs(plan, 8, False, "person"), clip_pairs(plan, 8, False, "frame")
    assert [p.frame for p in person] == [p.frame for p in frame]  # the same frames, other crops
    assert all(p.image.shape == (96, 96, 3) for p in person)
    scene = build_scene(dive_classes()[plan.label], plan.seed, (160, 120), plan.fps, plan.venue_seed)
    joints = keypoints(scene)
    above = [p for p in person if p.state["phase"] in ("on the board", "taking off", "in flight")]
    assert above and all(p.state["framing"] == "the whole body in frame" for p in above)
    # the diver fills more of a person crop: a closer shot than the frame-wide view's
    closeness = {"wide shot": 0, "medium shot": 1, "close-up": 2}
    sizes = {p.frame: closeness[p.state["size"]] for p in frame}
    assert all(closeness[p.state["size"]] >= sizes[p.frame] for p in above)
    assert any(closeness[p.state["size"]] > sizes[p.frame] for p in above)
    assert joints[:, :, 2].any()
    with pytest.raises(ValueError, match="crop must be one of"):
        clip_pairs(plan, 2, False, "tube")
    manifest = write_shards(tmp_path / "p", clips=2, seed=1000, frames=2, shard_size=10, crop="person")
    assert manifest["crop"] == "person"
    again = ensure_shards(tmp_path / "p", clips=2, seed=1000, frames=2, shard_size=10, crop="frame")
    assert again["crop"] == "frame" and again["sha256"] != manifest["sha256"]  # other crop: written anew


def test_retrieval_and_spread_match_naive_references():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(10, 8, generator=g), dim=-1)
    truth = np.arange(30) % 10
    got = retrieval(img, txt, truth)
    for k in (1, 5):
        hits = 0
        for i in range(30):
            sims = [(float(img[i] @ txt[j]), j) for j in range(10)]
            top = [j for _, j in sorted(sims, reverse=True)[:k]]
            hits += truth[i] in top
        assert got[f"r@{k}"] == pytest.approx(hits / 30)
    tokens, clips = torch.randn(12, 4, generator=g) + 3.0, np.repeat(np.arange(4), 3)
    means = [tokens[3 * c:3 * c + 3].mean(0) for c in range(4)]
    centre = sum(means) / 4
    ref = (sum(float((m - centre).norm() ** 2) for m in means) / 4) ** 0.5 / float(centre.norm())
    assert spread(tokens, clips) == pytest.approx(ref, rel=1e-5)


def test_linear_probe_learns_a_separable_label():
    g = torch.Generator().manual_seed(0)
    y = [("a", "b", "c")[i % 3] for i in range(90)]
    x = torch.randn(90, 6, generator=g) + torch.tensor([[6.0 * (i % 3), 0, 0, 0, 0, 0] for i in range(90)])
    out = linear_probe(x, y, np.arange(90) < 60)
    assert out["accuracy"] > 0.9 and out["balanced"] > 0.9 and out["classes"] == 3 and out["test_frames"] == 30


def test_pretrain_command_runs_end_to_end(tmp_path):
    """`pevl pretrain clip` on a tiny setting: 288 pairs, one epoch, open_clip_train on the CPU."""
    from pevl.cli import main
    from pevl.model import build_model

    out = tmp_path / "w.pt"
    code = main(["pretrain", "clip", "--joint-weight", "0", "--crop", "frame", "--threads", "1", "--clips", "48",
                 "--frames-per-clip", "6", "--epochs", "1", "--batch-size", "32", "--out", str(out), "--work-dir", str(tmp_path / "work"), "--eval-clips", "3"])
    assert code == 0
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["weights"]["sha256"] == file_sha256(out)
    assert record["data"]["samples"] == 288 and record["config"]["render_seed"] == 1000
    assert record["trainer"]["package"] == "open_clip_train"
    assert set(record["figures"]["sizes"]) == {"64", "48"}
    model = build_model(tiny_cfg({"model.pretrained": str(out)}), tiny_classes())
    assert torch.equal(model.visual.proj, state["visual.proj"])


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped weights are not in this checkout")
def test_shipped_weights_load_and_pass_a_retrieval_bar():
    import open_clip

    from pevl.model import build_model
    from pevl.model.backbone import load_clip
    from pevl.pretrain.clip.eval import encode, encode_texts, to_tensor

    assert SHIPPED.stat().st_size <= 15 * 2**20
    record = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert record["weights"]["sha256"] == file_sha256(SHIPPED)
    state = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    model = build_model(tiny_cfg({"model.pretrained": str(SHIPPED), "model.image_size": 64}), tiny_classes())
    assert torch.equal(model.visual.class_embedding, state["visual.class_embedding"])

    cfg = record["config"]  # the frames and size it was trained on (the dense trainer: 48 px person crops)
    size = cfg.get("image_size", 64) if cfg.get("joint_weight", 0) > 0 else 64
    data = make_eval_set(6, seed=2999, crop=cfg.get("crop", "frame"))  # fresh clips: neither pretraining nor the figures used them
    clip = load_clip("pevl-tiny", str(SHIPPED), size).eval()
    _, feats = encode(clip, to_tensor(data.images, size))
    distinct = sorted(set(data.captions))
    text = encode_texts(clip, open_clip.get_tokenizer("pevl-tiny"), distinct)
    got = retrieval(feats, text, np.array([distinct.index(c) for c in data.captions]))
    log.info("shipped weights on 48 fresh frames, %d captions: %s", len(distinct), got)
    chance = 1.0 / len(distinct)
    assert got["r@1"] >= 0.2 > 5 * chance and got["r@5"] >= 0.5


def test_pretrain_clip_deployment_uses_the_module_path():
    from flows.deployments import DEPLOYMENTS, PRETRAIN_CLIP, pretrain_deployments

    (clip,) = [d for d in pretrain_deployments() if d.name == PRETRAIN_CLIP]
    assert clip.entrypoint == "flows.pretrain_clip.pretrain_clip_flow" and PRETRAIN_CLIP in DEPLOYMENTS
    assert "pevl-served" in clip.tags


def test_model_card_says_what_it_is_and_what_it_measured():
    from pevl.pretrain.clip.card import model_card

    record = json.loads(SHIPPED.with_suffix(".json").read_text()) if SHIPPED.is_file() else None
    if record is None:
        pytest.skip("the shipped weights are not in this checkout")
    card = model_card(record)
    assert "stand-in for CLIP weights, for the embedded demo only" in card
    assert record["weights"]["sha256"] in card and f"seed {record['config']['seed']}" in card
    assert "pevl pretrain clip" in card and "| 48 px |" in card
    assert (SHIPPED.parent / "MODEL_CARD.md").read_text() == card


def test_eval_only_measures_on_the_crop_the_weights_were_trained_on(tmp_path):
    from pevl.pretrain.clip.cli import eval_crop
    from schemas import ConfigError  # pevl prints it as one line and exits 2, no traceback

    weights = tmp_path / "w.pt"
    assert eval_crop(None, weights) == "frame"  # no record: the shipped file's framing
    weights.with_suffix(".json").write_text(json.dumps({"config": {"crop": "person"}}))
    assert eval_crop(None, weights) == "person"
    assert eval_crop("frame", weights) == "frame"  # asked for explicitly
    assert eval_crop(None, SHIPPED) == "frame"  # its record predates the crop option
    weights.with_suffix(".json").write_text(json.dumps({"config": {}}))
    assert eval_crop(None, weights) == "frame"  # a record older than the crop option
    weights.with_suffix(".json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"w\.json.*no readable config"):
        eval_crop(None, weights)
    weights.with_suffix(".json").write_text(json.dumps({"config": {"crop": "wide"}}))
    with pytest.raises(ConfigError, match="'wide'"):
        eval_crop(None, weights)
