"""Helpers of the model tests: the tiny config at test sizes, class texts and random batches."""

from pathlib import Path

import pytest
import torch

from schemas import ClassText, ModelConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
# The demo's model section at test sizes: 2 frames of 32 px (4x4 patches), random init (not the demo's
# embedded synthclip-tiny weights) and one pose frame per video frame (the demo uses 2).
TEST_SIZES = {"model.num_frames": 2, "model.image_size": 32, "model.pretrained": None, "model.pose_frame_ratio": 1}


def tiny_cfg(overrides: dict | None = None) -> ModelConfig:
    """The demo config's model section at test sizes, with dotted `model.*` overrides."""
    return load_config(ROOT / "configs/demo.yaml", {**TEST_SIZES, **(overrides or {})}).model


def tiny_classes(n: int = 4) -> list[ClassText]:
    """n class texts in the Diving48 style (sentence + sub-action phrases)."""
    takeoffs = ["forward", "back", "reverse", "inward", "armstand"]
    out = []
    for i in range(n):
        t = takeoffs[i % len(takeoffs)]
        som = f"{1 + i % 3}.5 somersaults"
        out.append(ClassText(
            label=i, name=f"{t}{i}", text=f"a diver performs a {t} takeoff, {som}, free position",
            phrases=[f"{t} takeoff", som, "free position"],
        ))
    return out


def tiny_batch(cfg: ModelConfig, batch: int = 2, num_classes: int = 4, seed: int = 0):
    """Random CLIP-normalised video, poses with some missing joints, and labels."""
    g = torch.Generator().manual_seed(seed)
    s, t = cfg.image_size, cfg.num_frames
    video = torch.randn(batch, t, 3, s, s, generator=g)
    pose = torch.rand(batch, t * cfg.pose_frame_ratio, cfg.num_joints, 3, generator=g)
    pose[..., 2] = torch.where(pose[..., 2] < 0.2, torch.zeros_like(pose[..., 2]), pose[..., 2])
    labels = torch.arange(batch) % num_classes
    return video, pose, labels


@pytest.fixture(autouse=True)
def one_thread():
    """Run a test on one CPU thread: on the shared 2-core machine two threads are many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def loss_rank_worker(rank: int, world: int, init_file: str, data: dict, out_dir: str) -> None:
    """One gloo rank of the cross-rank loss test: losses and gradients on its slice of the batch
    (kept here, in a light module, because spawned processes import the worker's module)."""
    import torch.distributed as dist

    from pevl.losses import nt_xent, t2vp_loss

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        n = data["a"].shape[0] // world
        part = slice(rank * n, (rank + 1) * n)
        a, b = data["a"][part].clone().requires_grad_(), data["b"][part].clone().requires_grad_()
        logits = data["logits"][part].clone().requires_grad_()
        x = nt_xent(a, b, 0.2)
        y = t2vp_loss(logits, data["labels"][part], data["strength"])
        (x + y).backward()
        torch.save({"x": x.detach(), "y": y.detach(), "ga": a.grad, "gb": b.grad, "gl": logits.grad},
                   f"{out_dir}/rank{rank}.pt")
        dist.barrier()  # both ranks done before teardown: a rank leaving early aborted its peer's gloo threads
    finally:
        dist.destroy_process_group()


def assert_switch_removes(full: set[str], ablated: set[str], prefixes: list[str]) -> None:
    """Each prefix names state-dict keys the full model has and the ablated one lacks."""
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in full), prefix
        assert not any(k.startswith(prefix) for k in ablated), prefix
