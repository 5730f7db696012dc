"""A tiny full PeVL overfits 16 random clips: the total loss falls by 90% and every clip is right."""

import torch
from tiny_model import one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.losses import build_loss
from pevl.model import build_model


def test_tiny_model_overfits_16_random_clips():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = build_model(cfg, tiny_classes(4))
    loss_fn = build_loss(cfg)
    video, pose, _ = tiny_batch(cfg, batch=16, seed=1)
    labels = torch.arange(16) % 4
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2, weight_decay=0.0)
    first = last = None
    for _ in range(150):
        loss = loss_fn(model(video, pose), labels)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
        last = loss.item()
        if last <= 0.1 * first:
            break
    assert last <= 0.1 * first, (first, last)
    model.eval()
    assert (model.predict(video, pose).argmax(-1) == labels).all()
