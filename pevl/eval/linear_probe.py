"""Linear probes: how much of the classes a clip's frozen frame tokens, and its joints, carry.

Frozen frames. The components table's video-text baseline (no pose, no adapters, no temporal
tower) scores a clip with a linear function of its frozen frame tokens: the token readout (a
linear map), the frame mean and CLIP's projection, compared by cosine with fixed class texts. A
multinomial logistic regression on the same frame-mean tokens has free class weights, so up to the
normalisation it is at least as flexible: its held-out top-1 is what that baseline can reach with
this backbone. Two order-aware readouts (each frame's class token, and each frame's token mean,
concatenated in frame order) check whether frame order is what the frame mean loses.

Joints. The same regression on the clip's joints (person-centred as `model.pose_coords: person`
does): the frame mean of fixed random Fourier features of each frame's whole pose (an order-blind
reader of body configurations), the joints of every frame concatenated in order, and the frame mean of
each joint's Gaussian on the patch grid (all pose frames, or only those at the video frames): the
last is what the baseline's linear readout would get from a frozen backbone whose patch tokens said
which joints lie on them. They say what the stored poses carry, against which the pose path of a
trained model, or a backbone, can be read.

The clips are the evaluation views (`make_eval_loader`, one clip offset, one crop: the person box
with `train.crop: person`); the joints are all `num_frames * pose_frame_ratio` pose frames of the
view. Features are standardised with the training split's statistics; every readout is fitted for
each L2 weight, and the best held-out figure over the weights is reported (choosing on the test
split makes it optimistic, which a ceiling may be).

    python -m pevl.eval.linear_probe CONFIG [--shards DIR] [--set KEY=VALUE ...] [--out probe.json]
"""

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

L2_WEIGHTS = (1.0, 0.1, 0.01, 0.001)
FOURIER_FEATURES = 2048
FOURIER_SEED = 0
HEATMAP_SIGMA = 0.5  # patches

# (n, T, 1 + N, D) frozen frame tokens -> (n, F)
VIDEO_READOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "frame_mean_tokens": lambda x: x.mean(1).reshape(len(x), -1),
    "frames_class_token": lambda x: x[:, :, 0].reshape(len(x), -1),
    "frames_token_mean": lambda x: x[:, :, 1:].mean(2).reshape(len(x), -1),
}


def person_centred(pose: np.ndarray) -> np.ndarray:
    """Per-frame pose vectors (x, y person-centred, score > 0 flag) of clips of joints.

    Each frame's visible-joint centre is removed and the clip's RMS joint distance divided out, as
    `pevl.model.pose_encoder.person_coords` does; missing joints are zeros with flag 0.

    Args:
        pose: (n, T, K, 3) x, y in any unit, score.
    Returns:
        (n, T, 3K) float32.
    """
    seen = (pose[..., 2] > 0).astype(np.float32)[..., None]  # (n, T, K, 1)
    count = seen.sum(2, keepdims=True)
    centre = (pose[..., :2] * seen).sum(2, keepdims=True) / np.maximum(count, 1.0)
    rel = (pose[..., :2] - centre) * seen
    rms = np.sqrt((rel**2).sum((1, 2, 3), keepdims=True) / np.maximum(seen.sum((1, 2, 3), keepdims=True), 1.0))
    rel = rel / np.maximum(rms, 1e-3)
    return np.concatenate([rel, seen], -1).reshape(*pose.shape[:2], -1).astype(np.float32)


def fourier_mean(frames: np.ndarray, features: int = FOURIER_FEATURES, seed: int = FOURIER_SEED) -> np.ndarray:
    """Frame mean of random Fourier features cos(W f + b) of per-frame vectors f: (n, T, F) -> (n, features)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0, (frames.shape[-1], features)).astype(np.float32)
    b = rng.uniform(0.0, 2 * np.pi, features).astype(np.float32)
    return np.cos(frames @ w + b).mean(1)


def heatmap_mean(pose: np.ndarray, grid: tuple[int, int], sigma: float = HEATMAP_SIGMA) -> np.ndarray:
    """Frame mean of each joint's Gaussian on the backbone's patch grid: (n, T, K, 3) -> (n, K * gh * gw).

    What a linear readout of frame-mean tokens would see if each patch token of a frozen backbone said
    which joints lie on it (6 x 6 at the demo's 48 px with pevl-tiny's 8 px patches). The Gaussians
    are the model's own (`pevl.model.geometry.gaussian_profiles`); missing joints (score 0) add nothing.

    Args:
        pose: x, y in [0, 1] crop coordinates, score.
        grid: (gh, gw) patches.
        sigma: in patches (of the grid's height).
    """
    import torch

    from pevl.model.geometry import gaussian_profiles

    p = torch.from_numpy(np.ascontiguousarray(pose, dtype=np.float32))
    gy, gx = gaussian_profiles(p[..., :2], grid, sigma / grid[0])  # (n, T, K, gh), (n, T, K, gw)
    maps = gy[..., :, None] * gx[..., None, :] * (p[..., 2:3, None] > 0)  # (n, T, K, gh, gw)
    return maps.mean(1).flatten(1).numpy()


def video_frames(pose: np.ndarray, num_frames: int) -> np.ndarray:
    """The pose frames at the video frames' sources, as `align: pick` takes them: (n, Tp, ...) -> (n, T, ...)."""
    import torch

    from pevl.model.pose_encoder import select_frames

    return select_frames(torch.from_numpy(pose), num_frames, "pick").numpy()


# (n, Tp, K, 3) joints of the view, T video frames, the backbone's (gh, gw) patch grid -> (n, F)
JOINT_READOUTS: dict[str, Callable[[np.ndarray, int, tuple[int, int]], np.ndarray]] = {
    "joints_fourier_frame_mean": lambda p, t, g: fourier_mean(person_centred(p)),
    "joints_frames_concat": lambda p, t, g: person_centred(p).reshape(len(p), -1),
    "joints_heatmap_frame_mean": lambda p, t, g: heatmap_mean(p, g),
    "joints_heatmap_video_frames": lambda p, t, g: heatmap_mean(video_frames(p, t), g),
}


def view_features(cfg: Any, visual: Any, shards: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frozen image-tower tokens and joints of every clip of `split`, as evaluation sees them.

    Args:
        visual: the open_clip image tower (one instance for every split: a random one differs per build).
    Returns:
        tokens (n, T, 1 + N, D) float32 after ln_post, joints (n, Tp, K, 3) crop coordinates,
        labels (n,) int64.
    """
    import torch

    from pevl.data.loader import make_eval_loader, to_model_inputs
    from pevl.model.backbone import embed_patches, encode_tokens

    device = torch.device("cpu")
    tokens, joints, labels = [], [], []
    with torch.no_grad():
        for batch in make_eval_loader(cfg, shards, split, clips=1, crops=1):
            video, pose, label = to_model_inputs(batch, device)
            video = video[:, 0]  # (B, T, 3, S, S): the one view
            b, t = video.shape[:2]
            x = encode_tokens(visual, embed_patches(visual, video.flatten(0, 1)), None, None)
            tokens.append(x.unflatten(0, (b, t)).numpy())
            joints.append(pose[:, 0].numpy())
            labels.append(label.numpy())
    if not tokens:
        raise ValueError(f"no {split} clips in {shards}")
    return (np.concatenate(tokens).astype(np.float32), np.concatenate(joints).astype(np.float32),
            np.concatenate(labels).astype(np.int64))


def fit_logistic(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, l2: float,
    num_classes: int, max_iter: int = 300,
) -> dict[str, float]:
    """Multinomial logistic regression (mean cross-entropy + l2 / 2 * |W|^2, L-BFGS, zero start).

    Features are standardised with the training statistics. Deterministic on CPU.

    Returns:
        {"train": top-1, "test": top-1} as fractions.
    """
    import torch

    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a = torch.from_numpy((x_train - mean) / std)
    b = torch.from_numpy((x_test - mean) / std)
    ya = torch.from_numpy(y_train)
    w = torch.zeros(a.shape[1], num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(a @ w + bias, ya) + 0.5 * l2 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        train = float(((a @ w + bias).argmax(1) == ya).float().mean())
        test = float(((b @ w + bias).argmax(1) == torch.from_numpy(y_test)).float().mean())
    return {"train": train, "test": test}


def _fit_all(a: np.ndarray, ya: np.ndarray, b: np.ndarray, yb: np.ndarray, classes: int,
             l2_weights: tuple[float, ...], name: str) -> dict[str, Any]:
    fits = {str(l2): fit_logistic(a, ya, b, yb, l2, classes) for l2 in l2_weights}
    best = max(fits, key=lambda k: fits[k]["test"])
    log.info("%s (%d features): best test top-1 %.1f%% (l2 %s; train %.1f%%)", name, a.shape[1],
             100 * fits[best]["test"], best, 100 * fits[best]["train"])
    return {"features": int(a.shape[1]), "fits": fits, "best_l2": float(best), "best_test": fits[best]["test"]}


def probe(cfg: Any, shards: Path, l2_weights: tuple[float, ...] = L2_WEIGHTS) -> dict[str, Any]:
    """Fit every readout for every L2 weight; returns the figures and what they were measured on."""
    import torch

    from pevl import paths
    from pevl.data.loader import read_sizes
    from pevl.model.backbone import load_clip
    from pevl.train.loop import load_classes

    torch.manual_seed(cfg.seed)
    start = time.perf_counter()
    classes_file = shards / "classes.json"  # the shard stage copies it there; else the config's index
    classes = load_classes(classes_file if classes_file.is_file() else paths.index_dir(cfg) / "classes.json")
    sizes = read_sizes(shards)
    if not sizes.get("train") or not sizes.get("test"):
        raise ValueError(f"{shards} needs train and test clips (sizes.json: {sizes})")
    m = cfg.model
    visual = load_clip(m.backbone, m.pretrained, m.image_size).visual.eval()
    tokens_a, joints_a, ya = view_features(cfg, visual, shards, "train")
    tokens_b, joints_b, yb = view_features(cfg, visual, shards, "test")
    log.info("frozen tokens: train %s, test %s; joints %s (%.1f s)", tokens_a.shape, tokens_b.shape,
             joints_a.shape[1:], time.perf_counter() - start)
    results: dict[str, Any] = {}
    for name, readout in VIDEO_READOUTS.items():
        results[name] = _fit_all(readout(tokens_a), ya, readout(tokens_b), yb, len(classes), l2_weights, name)
    grid = tuple(visual.grid_size)
    for name, readout in JOINT_READOUTS.items():
        results[name] = _fit_all(readout(joints_a, m.num_frames, grid), ya, readout(joints_b, m.num_frames, grid), yb,
                                 len(classes), l2_weights, name)
    return {
        "shards": str(shards), "backbone": m.backbone, "pretrained": m.pretrained, "image_size": m.image_size,
        "num_frames": m.num_frames, "pose_frames": int(joints_a.shape[1]), "crop": cfg.train.crop,
        "train_clips": int(len(ya)), "test_clips": int(len(yb)), "classes": len(classes),
        "chance": 1.0 / len(classes), "readouts": results, "seconds": round(time.perf_counter() - start, 1),
    }


def table(result: dict[str, Any]) -> str:
    """The figures as a Markdown table (train / test top-1 % per readout and L2 weight)."""
    weights = list(next(iter(result["readouts"].values()))["fits"])
    lines = ["| readout | features | " + " | ".join(f"l2 {w}: train / test %" for w in weights) + " |",
             "|---|---:|" + "---|" * len(weights)]
    for name, r in result["readouts"].items():
        cells = [f"{100 * r['fits'][w]['train']:.1f} / {100 * r['fits'][w]['test']:.1f}" for w in weights]
        lines.append(f"| {name} | {r['features']} | " + " | ".join(cells) + " |")
    lines.append(f"\n{result['train_clips']} train / {result['test_clips']} test clips, {result['classes']} classes "
                 f"(chance {100 * result['chance']:.1f}%), {result['backbone']} {result['pretrained']}, "
                 f"{result['num_frames']} frames of {result['image_size']} px, {result['pose_frames']} pose frames, "
                 f"crop {result['crop']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table; write the figures as JSON with --out."""
    from pevl import paths
    from pevl.console import say
    from schemas import load_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("--shards", type=Path, help="shard folder (default: the config's own, from `pevl run`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config, args.overrides)
    shards = args.shards or paths.shards_dir(cfg)
    if not (shards / "sizes.json").is_file():
        parser.error(f"no shards at {shards}: run `pevl run {args.config}` first (or pass --shards)")
    result = probe(cfg, shards)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    say(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
