"""Measure a tiny CLIP on frames of a fresh SynthDive rendering (render seeds 2000-2999).

Figures: image-to-caption retrieval R@1 / R@5 among the distinct captions of
the rendering; linear probes of the frozen class token for the phase (all frames) and the shape
(in-flight frames), trained on 70 % of the clips and tested on the others; the class token's
between-clip spread; zero-shot top-1 over the 48 classes from the class sentences with
frame-averaged image features. Frames are the demo's: 8 segment-centre frames of each clip,
short side 96, centre square crop (or, with crop "person", the demo's person box), resized to
`image_size`.
"""

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from pevl.clip_norm import normalise
from pevl.data.transforms import segment_indices
from pevl.model.backbone import embed_patches, encode_tokens
from pevl.pretrain.clip.data import EVAL_SEEDS, Pair, clip_pairs, plan_clips
from pevl.progress import progress

log = logging.getLogger(__name__)

FRAMES = 8  # model.num_frames of the demo configs


@dataclass(frozen=True)
class EvalSet:
    """Captioned frames of fresh clips: images (n, S0, S0, 3) uint8 RGB, and per frame its caption,
    phase, shape, clip index and class label."""

    images: np.ndarray
    captions: list[str]
    phases: list[str]
    shapes: list[str | None]
    clips: np.ndarray
    labels: np.ndarray


def make_eval_set(clips: int, seed: int = EVAL_SEEDS.start, crop: str = "frame") -> EvalSet:
    """Render `clips` clips with `seed`; keep FRAMES segment-centre frames of each (evaluation crop)."""
    if seed not in EVAL_SEEDS:
        raise ValueError(f"evaluation renders use seeds {EVAL_SEEDS.start}-{EVAL_SEEDS.stop - 1}, got {seed}")
    pairs: list[Pair] = []
    for plan in progress(plan_clips(clips, seed), desc="render eval", unit="clip", leave=False):
        every = clip_pairs(plan, 10_000, random_crop=False, crop=crop)  # all frames
        pairs += [every[i] for i in segment_indices(len(every), FRAMES, 0.5, None)]
    return EvalSet(np.stack([p.image for p in pairs]), [p.text for p in pairs], [p.state["phase"] for p in pairs],
                   [p.state["shape"] for p in pairs], np.array([p.clip for p in pairs]),
                   np.array([p.label for p in pairs]))


def to_tensor(images: np.ndarray, size: int) -> torch.Tensor:
    """(n, S0, S0, 3) uint8 RGB -> (n, 3, size, size) CLIP-normalised (bilinear, as the demo's crops)."""
    resized = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in images])
    return normalise(torch.from_numpy(resized).permute(0, 3, 1, 2).float() / 255.0)


@torch.no_grad()
def encode(clip: nn.Module, images: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(class tokens (n, D) after ln_post, unit image features (n, E))."""
    tokens, feats = [], []
    for chunk in images.split(batch):
        x = encode_tokens(clip.visual, embed_patches(clip.visual, chunk), None)[:, 0]  # (n, D)
        tokens.append(x)
        feats.append(nn.functional.normalize(x @ clip.visual.proj, dim=-1))
    return torch.cat(tokens), torch.cat(feats)


@torch.no_grad()
def encode_texts(clip: nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:
    """(n, E) unit text features."""
    return nn.functional.normalize(clip.encode_text(tokenizer(texts)), dim=-1)


def retrieval(image_feats: torch.Tensor, text_feats: torch.Tensor, truth: np.ndarray, ks=(1, 5)) -> dict[str, float]:
    """Image-to-caption recall@k: truth[i] indexes image i's caption among the text features."""
    rank = (image_feats @ text_feats.T).argsort(dim=1, descending=True)
    hits = rank == torch.as_tensor(truth)[:, None]
    return {f"r@{k}": float(hits[:, :k].any(dim=1).float().mean()) for k in ks}


def spread(tokens: torch.Tensor, clips: np.ndarray) -> float:
    """Between-clip spread: RMS distance of the clips' frame-averaged class tokens from their mean,
    over the norm of that mean (the README's statistic; near 0 when the token ignores the input)."""
    ids = np.unique(clips)
    per_clip = torch.stack([tokens[torch.as_tensor(clips == c)].mean(0) for c in ids])  # (C, D)
    mean = per_clip.mean(0)
    return float((per_clip - mean).pow(2).sum(1).mean().sqrt() / mean.norm())


def linear_probe(x: torch.Tensor, y: list, train: np.ndarray, wd: float = 1e-2, steps: int = 500) -> dict[str, float]:
    """Class-balanced logistic regression (L-BFGS, L2 `wd`) on standardised features.

    Returns the accuracy and the balanced accuracy (mean recall over classes, chance 1/classes) on
    the frames outside `train`.

    Args:
        x: (n, D) features; y: n labels (None = not labelled, left out); train: (n,) bool mask.
    """
    keep = np.array([v is not None for v in y])
    names = sorted({v for v in y if v is not None})
    target = torch.tensor([names.index(v) if v is not None else -1 for v in y])
    tr, te = torch.as_tensor(train & keep), torch.as_tensor(~train & keep)
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    z = (x - mu) / sd
    counts = torch.bincount(target[tr], minlength=len(names)).float()
    weight = counts.sum() / (len(names) * counts.clamp(min=1))
    torch.manual_seed(0)
    head = nn.Linear(x.shape[1], len(names))
    opt = torch.optim.LBFGS(head.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(z[tr]), target[tr], weight=weight) + wd * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred, truth = head(z[te]).argmax(1), target[te]
    recalls = [float((pred[truth == c] == c).float().mean()) for c in range(len(names)) if (truth == c).any()]
    return {"accuracy": float((pred == truth).float().mean()), "balanced": float(np.mean(recalls)),
            "classes": len(names), "test_frames": int(te.sum())}


def zero_shot(clip: nn.Module, tokenizer, feats: torch.Tensor, clips: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 over the 48 classes: frame-averaged image features against the class sentences."""
    from pevl.datasets.text import diving48_class_text
    from pevl.synth.vocab import load_vocab

    sentences = [diving48_class_text(i, list(codes)).text for i, codes in enumerate(load_vocab())]
    text = encode_texts(clip, tokenizer, sentences)
    ids = np.unique(clips)
    video = nn.functional.normalize(torch.stack([feats[torch.as_tensor(clips == c)].mean(0) for c in ids]), dim=-1)
    truth = torch.as_tensor(np.array([labels[clips == c][0] for c in ids]))
    return float(((video @ text.T).argmax(1) == truth).float().mean())


def evaluate_clip(clip: nn.Module, tokenizer, data: EvalSet, image_size: int) -> dict:
    """Every figure of the module doc for one backbone at one image size."""
    clip.eval()
    tokens, feats = encode(clip, to_tensor(data.images, image_size))
    distinct = sorted(set(data.captions))
    truth = np.array([distinct.index(c) for c in data.captions])
    text = encode_texts(clip, tokenizer, distinct)
    train = data.clips < np.quantile(np.unique(data.clips), 0.7)  # probes: train on 70 % of the clips
    # shape where it is the dive's: in flight (on the board nearly every frame is "straight")
    flight_shapes = [s if p == "in flight" else None for s, p in zip(data.shapes, data.phases)]
    return {
        "image_size": image_size, "frames": len(data.captions), "clips": len(np.unique(data.clips)),
        "distinct_captions": len(distinct), **retrieval(feats, text, truth),
        "probe_phase": linear_probe(tokens, data.phases, train), "probe_shape": linear_probe(tokens, flight_shapes, train),
        "spread": spread(tokens, data.clips), "zero_shot_top1": zero_shot(clip, tokenizer, feats, data.clips, data.labels),
    }


def measure(model: str, pretrained: str | None, sizes: tuple[int, ...] = (64, 48), clips: int = 192,
            seed: int = EVAL_SEEDS.start, baseline: bool = False, crop: str = "frame") -> dict:
    """Load a backbone through `load_clip` (as `model.pretrained` does) and measure it at each size;
    with `baseline`, the same figures of a random initialisation go under "random"."""
    import open_clip

    from pevl.model.backbone import load_clip
    from pevl.pretrain.clip.model import register_configs

    register_configs()
    data = make_eval_set(clips, seed, crop)
    tokenizer = open_clip.get_tokenizer(model)
    out = {"model": model, "pretrained": pretrained, "render_seed": seed, "crop": crop, "sizes": {}}
    for size in sizes:
        torch.manual_seed(0)  # a random backbone (pretrained None) is the same one every time
        out["sizes"][str(size)] = evaluate_clip(load_clip(model, pretrained, size), tokenizer, data, size)
    if baseline and pretrained is not None:
        out["random"] = {"sizes": {}}
        for size in sizes:
            torch.manual_seed(0)
            out["random"]["sizes"][str(size)] = evaluate_clip(load_clip(model, None, size), tokenizer, data, size)
    return out
