"""`pevl model-info`: parameter table per submodule and FLOPs per clip on the tiny config."""

import argparse

from tiny_model import ROOT, one_thread  # noqa: F401 (autouse fixture)

from pevl.commands import model_info as command
from pevl.model.info import model_info
from schemas import load_config


def test_model_info_counts_match_the_model_and_flops_scale_with_frames():
    cfg = load_config(ROOT / "configs/demo.yaml", {"model.image_size": 32, "model.num_frames": 2}).model
    info = model_info(cfg, num_classes=4)
    top = {r.name: r for r in info.rows if r.depth == 0}
    assert set(top) >= {"visual", "video_encoder", "pose_encoder", "text_encoder", "ucmr", "logit_scale"}
    assert top["visual"].trainable == 0 and top["visual"].total > 0
    assert sum(r.total for r in top.values()) == info.total
    assert sum(r.trainable for r in top.values()) == info.trainable
    assert top["ucmr"].trainable == top["ucmr"].total > 0
    assert info.gflops > 0 and info.flops_by_module["video_encoder"] > 0
    cfg4 = cfg.model_copy(update={"num_frames": 4})
    assert 1.8 < model_info(cfg4, num_classes=4).gflops / info.gflops < 2.2


def test_model_info_command_prints_the_table(capsys):
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["model-info", str(ROOT / "configs/demo.yaml"), "--set", "model.image_size=32",
                              "--set", "model.num_frames=2", "--classes", "3"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "pevl-tiny" in out and "ucmr.p2v" in out and "GFLOPs per clip" in out
    assert "trainable" in out.splitlines()[1]
