"""SGMC similarities and semantic strengths (METHOD.md section 5); its losses are in pevl.losses.

- Action level: `S_VS = cos(V, S_c)`, `S_PS = cos(P, S_c)` [seed].
- Sub-action level: `S^_FW = F W_c^T (T x L_c)` [seed], reduced to one score by
  `1/2 (mean_t max_l + mean_l max_t)` over the valid words ("max_mean") [inferred], or by the plain
  mean over the T x L matrix ("mean").
- Combined: the weighted mean of the active terms, `S(x, c) = sum_k a_k S_k / sum_k a_k` over the
  enabled k in {VS, PS, FW} [inferred]. A mean keeps S in [-1, 1] whatever terms an ablation row
  enables, so every row trains at the same temperature. Computed in float32 (also under autocast).
- Semantic strength of class i for ground truth g: `s_i = norm(1 - cos(t_i, t_g))`, norm = min-max
  over i != g into [s_min, 1], `s_g = 1` [seed form, inferred norm]: a negative that reads like the
  ground truth is pushed less.
"""

from typing import Literal

import torch
from torch import nn

from pevl.model.text_encoder import TextFeatures

# Below any cosine similarity: marks padded words for max-reductions.
_NO_WORD = -2.0


def action_similarity(x: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of clip features and class sentences (both L2-normalised).

    Args:
        x: (B, E).
        sentence: (C, E).
    Returns:
        (B, C).
    """
    return x @ sentence.T


def word_similarity(
    frames: torch.Tensor, words: torch.Tensor, mask: torch.Tensor, reduce: Literal["max_mean", "mean"] = "max_mean"
) -> torch.Tensor:
    """Frame-word score S_FW from the T x L similarity matrix of each (clip, class) pair.

    A class without valid words scores 0.

    Args:
        frames: (B, T, E) normalised per-frame pose features F.
        words: (C, L, E) normalised word features W.
        mask: (C, L) bool, valid words.
        reduce: "max_mean" or "mean" (module doc).
    Returns:
        (B, C).
    """
    sim = torch.einsum("bte,cle->bctl", frames, words)  # (B, C, T, L)
    m = mask[None, :, None, :]
    count = mask.sum(-1).clamp_min(1).to(sim.dtype)  # (C,)
    if reduce == "mean":
        score = (sim * m).sum(-1).mean(-1) / count
    else:
        per_frame = sim.masked_fill(~m, _NO_WORD).amax(-1).mean(-1)  # mean_t max_l: (B, C)
        per_word = (sim.amax(2) * mask).sum(-1) / count  # mean_l max_t: (B, C)
        score = (per_frame + per_word) / 2
    return torch.where(mask.any(-1), score, torch.zeros_like(score))


def semantic_strengths(distance: torch.Tensor, labels: torch.Tensor, s_min: float) -> torch.Tensor:
    """Per-sample push strength of every class: min-max of the text distance into [s_min, 1].

    Args:
        distance: (C, C) `1 - cos` of the class sentences.
        labels: (B,) ground-truth classes.
        s_min: strength of the negative closest to the ground truth.
    Returns:
        (B, C); 1 at the ground truth (and everywhere when all negatives are equally far).
    """
    d = distance[labels].float()  # (B, C)
    neg = torch.ones_like(d, dtype=torch.bool).scatter(1, labels[:, None], False)
    lo = d.masked_fill(~neg, float("inf")).amin(1, keepdim=True)
    hi = d.masked_fill(~neg, float("-inf")).amax(1, keepdim=True)
    span = hi - lo
    ok = torch.isfinite(span) & (span > 1e-6)
    s = s_min + (1.0 - s_min) * (d - lo) / torch.where(ok, span, torch.ones_like(span))
    s = torch.where(ok, s, torch.ones_like(s))
    return s.scatter(1, labels[:, None], 1.0)


class ScoreHead(nn.Module):
    """The enabled class scores ("vs", "ps", "fw") and their weighted mean S(x, c); no parameters.

    Args:
        weights: score name -> weight a >= 0; only these terms are computed; their sum must be > 0.
        word_reduce: reduction of S_FW.
    """

    def __init__(self, weights: dict[str, float], word_reduce: Literal["max_mean", "mean"] = "max_mean"):
        super().__init__()
        if not weights or sum(weights.values()) <= 0 or min(weights.values()) < 0:
            raise ValueError(f"score weights must be >= 0 with a positive sum, got {weights}")
        self.weights = dict(weights)
        self.word_reduce = word_reduce

    def forward(
        self,
        video: torch.Tensor | None,
        pose: torch.Tensor | None,
        frames: torch.Tensor | None,
        text: TextFeatures,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Score every class.

        Args:
            video: (B, E) V, pose: (B, E) P, frames: (B, T, E) F, all normalised (None if absent).
            text: class text features.
        Returns:
            S (B, C) and the per-term scores, each (B, C), all float32.
        """
        scores: dict[str, torch.Tensor] = {}
        sentence = text.sentence.float()
        with torch.autocast(sentence.device.type, enabled=False):
            if "vs" in self.weights:
                scores["vs"] = action_similarity(video.float(), sentence)
            if "ps" in self.weights:
                scores["ps"] = action_similarity(pose.float(), sentence)
            if "fw" in self.weights:
                scores["fw"] = word_similarity(frames.float(), text.words.float(), text.word_mask, self.word_reduce)
            total = sum(self.weights[k] * v for k, v in scores.items()) / sum(self.weights[k] for k in scores)
        return total, scores

    def extra_repr(self) -> str:
        """The score weights in the module's repr."""
        return f"weights={self.weights}, word_reduce={self.word_reduce!r}"
