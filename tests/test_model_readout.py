"""model.readout: the class token (paper) or the learned token readout of the random demo backbone."""

import pytest
import torch
from tiny_model import one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.model import build_model
from pevl.model.readout import TokenReadout


def build(readout: str, **overrides):
    torch.manual_seed(0)
    cfg = tiny_cfg({"model.readout": readout, **overrides})
    return cfg, build_model(cfg, tiny_classes())


def test_token_readout_adds_trainable_readouts_and_starts_as_class_token():
    cfg, cls_model = build("cls")
    _, tok_model = build("tokens")
    keys = set(tok_model.state_dict()) - set(cls_model.state_dict())
    assert keys == {f"{m}_readout.linear.{p}" for m in ("video", "pose") for p in ("weight", "bias")}
    assert all(p.requires_grad for n, p in tok_model.named_parameters() if "_readout." in n)
    video, pose, _ = tiny_batch(cfg)
    torch.testing.assert_close(tok_model(video, pose).logits, cls_model(video, pose).logits)


@pytest.mark.parametrize("pose_input", ["coords", "heatmap"])
def test_readout_sizes_follow_the_token_count(pose_input):
    _, model = build("tokens", **{"model.pose_input": pose_input})
    patches = 1 + 4 * 4  # 32 px frames of 8 px patches
    assert model.video_readout.num_tokens == patches
    assert model.pose_readout.num_tokens == (1 + 17 if pose_input == "coords" else patches)


def test_token_readout_sees_every_token_not_only_the_class_token():
    torch.manual_seed(0)
    readout = TokenReadout(num_tokens=3, width=4)
    tokens = torch.randn(2, 5, 3, 4)
    torch.testing.assert_close(readout(tokens), tokens[:, :, 0])  # starts as the class token
    opt = torch.optim.SGD(readout.parameters(), lr=0.1)
    target = tokens[:, :, 2].sum(-1, keepdim=True).expand(-1, -1, 4)  # depends on a joint token only
    for _ in range(200):
        opt.zero_grad()
        loss = (readout(tokens) - target).pow(2).mean()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-2
    moved = tokens.clone()
    moved[:, :, 2] += 1.0
    assert not torch.allclose(readout(moved), readout(tokens))
    with pytest.raises(ValueError, match="3 tokens"):
        TokenReadout(num_tokens=4, width=4)(tokens)
