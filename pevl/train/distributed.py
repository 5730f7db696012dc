"""Process-group state for torchrun/DDP (NCCL on GPUs, gloo on CPU); one process = world of 1.

Rank 0 alone logs to MLflow and writes checkpoints; everything else calls these helpers.
"""

import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistState:
    """Where this process sits: rank, world size, local rank and its device."""

    rank: int
    world: int
    local_rank: int
    device: Any

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that logs and saves."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) set WORLD_SIZE and RANK."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def pick_device(name: str) -> Any:
    """torch.device for 'auto' | 'cpu' | 'cuda' (auto = cuda when available)."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is visible")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads of this process (0 keeps torch's default)."""
    import torch

    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def init_distributed(device_name: str, timeout_s: float = 300.0) -> DistState:
    """Join the torchrun process group if launched by torchrun; otherwise a world of one.

    Args:
        timeout_s: how long a collective waits for the other ranks before it fails (a dead node
            then stops the survivors in minutes, not torch's default 30).
    """
    import datetime

    import torch
    import torch.distributed as dist

    device = pick_device(device_name)
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return DistState(0, 1, 0, device)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))
    state = DistState(dist.get_rank(), dist.get_world_size(), local_rank, device)
    log.info("rank %d of %d on %s", state.rank, state.world, device)
    return state


PEER_LOST_HINTS = ("connection closed by peer", "connection reset", "timed out", "timeout", "broken pipe")


def lost_peer(exc: BaseException) -> bool:
    """True when `exc` says another rank went away (a dead process or node, or a collective timeout)."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("gloo" in text or "nccl" in text) and any(
        h in text for h in PEER_LOST_HINTS)


def barrier(state: DistState) -> None:
    """Wait for every rank (no-op in a world of one)."""
    import torch.distributed as dist

    if state.world > 1:
        dist.barrier()


def gather_objects(obj: Any, state: DistState) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank (a list of one in a world of one)."""
    import torch.distributed as dist

    if state.world == 1:
        return [obj]
    out: list[Any] = [None] * state.world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, state: DistState) -> Any:
    """Rank 0's `obj` on every rank."""
    import torch.distributed as dist

    if state.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_mean(values: dict[str, float], state: DistState) -> dict[str, float]:
    """Mean of each scalar over ranks (identity in a world of one)."""
    import torch
    import torch.distributed as dist

    if state.world == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.to(state.device)
    dist.all_reduce(t)
    return {k: float(v) / state.world for k, v in zip(keys, t.tolist())}


def cleanup(state: DistState, finished: bool) -> None:
    """Leave the process group (if one was joined).

    After a finished run every rank first waits at a barrier, so no rank tears its gloo/NCCL
    connections down while another still works (rank 0 logs to MLflow after the last collective),
    and collects garbage, so the DDP reducer that holds the group is freed before the group is
    destroyed rather than during interpreter shutdown. After a failure there is no barrier: the
    other ranks may be stuck in a collective and would never reach it.
    """
    import gc

    import torch.distributed as dist

    if state.world > 1 and dist.is_initialized():
        if finished:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()
        log.info("rank %d of %d left the process group", state.rank, state.world)


def unused_parameters(model: Any, loss_fn: Any, cfg: Any, device: Any) -> list[str]:
    """Names of trainable parameters outside the loss's autograd graph, from one synthetic batch.

    DDP needs `find_unused_parameters=True` exactly when this is not empty (for example an
    `sgmc.use_s_ps: false` config whose pose readout feeds no score); otherwise the flag only costs an
    extra graph traversal per step. The model has no data-dependent branches, so one batch of two
    random clips decides it. Gradients are cleared afterwards.

    Args:
        cfg: the ModelConfig the model was built from (input shapes).
    """
    import torch

    g = torch.Generator().manual_seed(0)
    s, t = cfg.image_size, cfg.num_frames
    video = torch.randn(2, t, 3, s, s, generator=g).to(device) if cfg.use_video else None
    pose = torch.rand(2, t * cfg.pose_frame_ratio, cfg.num_joints, 3, generator=g).to(device) if cfg.use_pose else None
    labels = torch.tensor([0, 1 % len(model.text_encoder().sentence)], device=device)
    model.zero_grad(set_to_none=True)
    loss_fn(model(video, pose), labels)["total"].backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return unused
