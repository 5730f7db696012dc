"""build_seeded: a seeded build gives the same weights while other threads build models (the flow's
train stage beside a grid's cost estimate shares torch's global RNG with it)."""

import threading

import torch

from pevl.model.build import build_seeded
from tiny_model import tiny_cfg, tiny_classes


def _weights(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_a_seeded_build_is_the_same_while_other_threads_build_and_a_restoring_build_leaves_the_rng():
    cfg, classes = tiny_cfg(), tiny_classes()
    alone = _weights(build_seeded(cfg, classes, 7))
    assert not all(torch.equal(a, b) for a, b in zip(alone, _weights(build_seeded(cfg, classes, 8))))

    stop, noise = threading.Event(), []

    def estimate():  # what a grid's cost estimate does in the flow's main thread
        while not stop.is_set():
            build_seeded(cfg, classes, 0, restore=True)
            noise.append(1)  # a count, not the model: an unfair lock lets these threads build hundreds (24 GB in one CI run)

    others = [threading.Thread(target=estimate) for _ in range(2)]
    for t in others:
        t.start()
    try:
        beside = [_weights(build_seeded(cfg, classes, 7)) for _ in range(2)]
    finally:
        stop.set()
        for t in others:
            t.join()
    assert noise, "the other threads built nothing"
    for weights in beside:
        assert all(torch.equal(a, b) for a, b in zip(alone, weights))

    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    build_seeded(cfg, classes, 0, restore=True)
    assert torch.equal(torch.rand(4), expected)
