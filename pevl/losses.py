"""PeVL losses: NT-Xent refinement supervision (UCMR) and the semantic-guided losses (SGMC).

`L = L_SGMC + lambda_ucmr * L_UCMR` (METHOD.md sections 3 and 5), or plain cross-entropy over the
class scores instead of L_SGMC when SGMC is off.
- `L_vp2t = -log(e^{z_g} / (e^{z_g} + sum_{i != g} s_i e^{z_i}))`, z = logit_scale * S(x, .): each
  clip against every class text, negatives weighted by their semantic strength s_i.
- `L_t2vp`: each class text present in the batch against the batch's clips. Several clips may share
  the class: each (text, positive clip) pair is scored against the clips of other classes only,
  weighted by s of their labels, and the pairs are averaged [inferred multi-positive form].
- `L_SGMC = (L_vp2t + L_t2vp) / 2`; without semantic guidance every s_i = 1.
- `L_UCMR = NTXent(pool(X), pool(X')) + NTXent(pool(J), pool(J'))` with temperature tau_r; with
  `stop_gradient` the unrefined views pool(X), pool(J) are constants (only the refined side learns
  to agree with them, as a BYOL/SimSiam-style target) [option, off by default].
Batch-wide terms (t2vp, NT-Xent) gather features from every rank, with gradient, when
torch.distributed is initialised (every rank must then pass the same batch size); otherwise the
local batch is the whole batch.
"""

import torch
from torch.nn import functional as F

from pevl.model.outputs import PeVLOutput
from pevl.model.sgmc import semantic_strengths
from schemas import ModelConfig


def _world() -> tuple[int, int]:
    """(rank, world size) of torch.distributed, or (0, 1) when it is not initialised."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, keeping the gradient path to the local part.

    Args:
        x: (B, ...) the same shape on every rank.
    Returns:
        (world * B, ...); `x` itself without torch.distributed.
    """
    _, world = _world()
    if world == 1:
        return x
    import torch.distributed as dist
    from torch.distributed import _functional_collectives as fc

    # the functional all-gather has autograd (its backward reduce-scatters the gradient); torch
    # 2.14 deprecates torch.distributed.nn.functional.all_gather in its favour
    return fc.wait_tensor(fc.all_gather_single(x.contiguous(), 0, dist.group.WORLD))


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent between two views: cosine similarity, symmetric over both views.

    Each of the 2B anchors has its other view as the positive and the other 2B - 2 views as
    negatives; the loss is the mean cross-entropy over the anchors. Across ranks, local anchors are
    scored against the gathered views of the whole batch.

    Args:
        a: (B, D) first view.
        b: (B, D) second view.
        temperature: tau.
    Returns:
        () loss (0 when the whole batch has a single sample).
    """
    rank, _ = _world()
    n = a.shape[0]
    dtype = torch.promote_types(a.dtype, torch.float32)
    a, b = F.normalize(a.to(dtype), dim=-1), F.normalize(b.to(dtype), dim=-1)
    all_a, all_b = gather_with_grad(a), gather_with_grad(b)
    total = all_a.shape[0]
    if total < 2:
        return (a * b).sum() * 0.0
    views = torch.cat([all_a, all_b])  # (2N, D)
    anchors = torch.cat([a, b])  # (2B, D)
    local = torch.arange(n, device=a.device) + rank * n
    self_idx = torch.cat([local, local + total])  # anchor positions in `views`
    positive = torch.cat([local + total, local])
    logits = anchors @ views.T / temperature  # (2B, 2N)
    logits = logits.masked_fill(F.one_hot(self_idx, 2 * total).bool(), float("-inf"))
    return F.cross_entropy(logits, positive)


def weighted_contrastive(logits: torch.Tensor, positive: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Mean over positive pairs of `-log(e^{z_p} / (e^{z_p} + sum_neg s_n e^{z_n}))`.

    Other positives of the same row are left out of each pair's denominator.

    Args:
        logits: (R, M) scaled scores.
        positive: (R, M) bool positive pairs (every row used needs at least one).
        strength: (R, M) push strength of each negative (ignored at positives).
    Returns:
        () loss.
    """
    logits = logits.float()
    neg = logits + torch.log(strength.float().clamp_min(1e-12))
    neg = neg.masked_fill(positive, float("-inf"))
    neg_lse = torch.logsumexp(neg, dim=-1, keepdim=True)  # (R, 1)
    pair = torch.logaddexp(logits, neg_lse.expand_as(logits)) - logits  # (R, M)
    return pair[positive].mean()


def vp2t_loss(logits: torch.Tensor, labels: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Clip -> class texts; equals cross-entropy when every strength is 1.

    Args:
        logits: (B, C); labels: (B,); strength: (B, C) from `semantic_strengths`.
    """
    positive = F.one_hot(labels, logits.shape[1]).bool()
    return weighted_contrastive(logits, positive, strength)


def t2vp_loss(logits: torch.Tensor, labels: torch.Tensor, class_strength: torch.Tensor) -> torch.Tensor:
    """Class texts present in the (gathered) batch -> the batch's clips.

    Across ranks every rank computes this same whole-batch loss (its anchors are class texts, not
    local clips); the all-gather's backward sums the ranks' gradients and DDP averages them, which
    gives the whole-batch gradient.

    Args:
        logits: (B, C) local scaled scores; gathered across ranks here.
        labels: (B,) local labels.
        class_strength: (C, C) strength of class j as a negative of ground truth i, [i, j].
    """
    logits, labels = gather_with_grad(logits), gather_with_grad(labels)
    present = torch.unique(labels)  # (P,)
    z = logits[:, present].T  # (P, N): text -> clips
    positive = labels[None, :] == present[:, None]
    strength = class_strength[present][:, labels]  # (P, N)
    return weighted_contrastive(z, positive, strength)


class PeVLLoss:
    """The training loss of a PeVL model; `__call__` returns "total" and every active term.

    Terms: "vp2t", "t2vp", "sgmc" (with SGMC) or "ce" (without); "ucmr_video", "ucmr_pose" and
    "ucmr" when refinement supervision is on and the refiners exist.

    Args:
        use_sgmc: semantic-guided vp2t/t2vp, else cross-entropy.
        use_semantic_guidance: weight negatives by semantic strength (else all 1).
        s_min: smallest strength.
        use_refine_supervision: add the UCMR NT-Xent terms.
        refine_temperature: tau_r.
        lambda_ucmr: weight of L_UCMR.
        stop_gradient: no gradient through the unrefined view of the NT-Xent terms.
    """

    def __init__(
        self,
        use_sgmc: bool = True,
        use_semantic_guidance: bool = True,
        s_min: float = 0.1,
        use_refine_supervision: bool = True,
        refine_temperature: float = 0.1,
        lambda_ucmr: float = 1.0,
        stop_gradient: bool = False,
    ):
        self.use_sgmc = use_sgmc
        self.use_semantic_guidance = use_semantic_guidance
        self.s_min = s_min
        self.use_refine_supervision = use_refine_supervision
        self.refine_temperature = refine_temperature
        self.lambda_ucmr = lambda_ucmr
        self.stop_gradient = stop_gradient

    def _class_strength(self, out: PeVLOutput) -> torch.Tensor:
        """(C, C) strengths, row = ground truth."""
        c = out.logits.shape[1]
        classes = torch.arange(c, device=out.logits.device)
        if not self.use_semantic_guidance or out.text_distance is None:
            return torch.ones(c, c, device=out.logits.device)
        return semantic_strengths(out.text_distance, classes, self.s_min)

    def __call__(self, out: PeVLOutput, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms of one batch.

        Args:
            out: the model output.
            labels: (B,) long class labels.
        """
        terms: dict[str, torch.Tensor] = {}
        if self.use_sgmc:
            strength = self._class_strength(out)
            terms["vp2t"] = vp2t_loss(out.logits, labels, strength[labels])
            terms["t2vp"] = t2vp_loss(out.logits, labels, strength)
            terms["sgmc"] = (terms["vp2t"] + terms["t2vp"]) / 2
            total = terms["sgmc"]
        else:
            terms["ce"] = F.cross_entropy(out.logits.float(), labels)
            total = terms["ce"]
        if self.use_refine_supervision and out.refine_pairs:
            for name, (before, after) in out.refine_pairs.items():
                before = before.detach() if self.stop_gradient else before
                terms[f"ucmr_{name}"] = nt_xent(before, after, self.refine_temperature)
            terms["ucmr"] = sum(terms[f"ucmr_{name}"] for name in out.refine_pairs)
            total = total + self.lambda_ucmr * terms["ucmr"]
        terms["total"] = total
        return terms


def build_loss(cfg: ModelConfig) -> PeVLLoss:
    """The loss matching a model config."""
    return PeVLLoss(
        use_sgmc=cfg.sgmc.use_sgmc,
        use_semantic_guidance=cfg.sgmc.use_semantic_guidance,
        s_min=cfg.sgmc.s_min,
        use_refine_supervision=cfg.ucmr.use_refine_supervision,
        refine_temperature=cfg.ucmr.temperature,
        lambda_ucmr=cfg.lambda_ucmr,
        stop_gradient=cfg.ucmr.use_stop_gradient,
    )
