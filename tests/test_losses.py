"""PeVL losses: NT-Xent against a loop reference and pytorch-metric-learning, semantic guidance,
vp2t/t2vp against loop references, the loss composition, and the cross-rank gather (2 processes)."""

import math

import pytest
import torch
import torch.multiprocessing as mp
from pytorch_metric_learning.losses import NTXentLoss
from tiny_model import loss_rank_worker, one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.losses import build_loss, nt_xent, t2vp_loss, vp2t_loss
from pevl.model import build_model
from pevl.model.sgmc import semantic_strengths
from schemas import ClassText


def nt_xent_loop(a: torch.Tensor, b: torch.Tensor, t: float) -> float:
    """SimCLR NT-Xent written as loops over anchors."""
    views = [x / x.norm() for x in list(a) + list(b)]
    n = len(a)
    total = 0.0
    for i, anchor in enumerate(views):
        pos = (i + n) % (2 * n)
        den = sum(math.exp(float(anchor @ v) / t) for k, v in enumerate(views) if k != i)
        total += -math.log(math.exp(float(anchor @ views[pos]) / t) / den)
    return total / (2 * n)


@pytest.mark.parametrize("batch,dim,temperature,seed", [(2, 3, 0.5, 0), (5, 8, 0.1, 1), (8, 16, 0.07, 2)])
def test_nt_xent_matches_loop_and_pytorch_metric_learning(batch, dim, temperature, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    ours = nt_xent(a, b, temperature).item()
    assert abs(ours - nt_xent_loop(a.double(), b.double(), temperature)) < 1e-5
    pml = NTXentLoss(temperature=temperature)(torch.cat([a, b]), torch.arange(batch).repeat(2)).item()
    assert abs(ours - pml) < 1e-5


def test_nt_xent_is_symmetric_and_small_for_identical_views():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    assert abs(nt_xent(a, b, 0.2) - nt_xent(b, a, 0.2)) < 1e-6
    assert nt_xent(a, a, 0.05) < nt_xent(a, b, 0.05)
    assert nt_xent(a[:1], b[:1], 0.1) == 0.0


def test_semantic_weights_min_for_a_copy_of_the_truth_and_one_for_the_farthest():
    torch.manual_seed(0)
    classes = tiny_classes(5)
    classes[3] = ClassText(label=3, name="copy", text=classes[0].text, phrases=classes[0].phrases)
    model = build_model(tiny_cfg(), classes)
    distance = model.text_encoder.class_distance
    s = semantic_strengths(distance, torch.tensor([0]), s_min=0.1)[0]
    assert s[0] == 1.0  # ground truth
    negatives = torch.tensor([1, 2, 3, 4])
    assert s[3] == pytest.approx(0.1) and s[3] == s[negatives].min()
    farthest = negatives[distance[0, negatives].argmax()]
    assert s[farthest] == pytest.approx(1.0)
    assert ((s >= 0.1 - 1e-6) & (s <= 1 + 1e-6)).all()


def test_semantic_weights_equal_distances_are_all_one():
    s = semantic_strengths(torch.ones(3, 3) - torch.eye(3), torch.tensor([0, 2]), s_min=0.1)
    assert torch.equal(s, torch.ones(2, 3))


def test_vp2t_with_unit_strength_equals_cross_entropy():
    g = torch.Generator().manual_seed(4)
    logits, labels = torch.randn(6, 5, generator=g) * 5, torch.tensor([0, 1, 2, 3, 4, 0])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(vp2t_loss(logits, labels, torch.ones(6, 5)), ce)


def test_vp2t_and_t2vp_match_loop_references():
    g = torch.Generator().manual_seed(5)
    logits, labels = torch.randn(5, 4, generator=g) * 3, torch.tensor([0, 2, 2, 1, 2])
    strength = torch.rand(4, 4, generator=g) * 0.9 + 0.1
    strength.fill_diagonal_(1.0)
    vp2t = []
    for i, y in enumerate(labels.tolist()):
        neg = sum(strength[y, c] * math.exp(logits[i, c]) for c in range(4) if c != y)
        vp2t.append(-math.log(math.exp(logits[i, y]) / (math.exp(logits[i, y]) + neg)))
    assert vp2t_loss(logits, labels, strength[labels]).item() == pytest.approx(sum(vp2t) / len(vp2t), abs=1e-5)
    t2vp = []
    for c in sorted(set(labels.tolist())):
        neg = sum(strength[c, y] * math.exp(logits[j, c]) for j, y in enumerate(labels.tolist()) if y != c)
        for j in [j for j, y in enumerate(labels.tolist()) if y == c]:
            t2vp.append(-math.log(math.exp(logits[j, c]) / (math.exp(logits[j, c]) + neg)))
    assert t2vp_loss(logits, labels, strength).item() == pytest.approx(sum(t2vp) / len(t2vp), abs=1e-5)


def test_guidance_pushes_a_similar_negative_less():
    logits, labels = torch.tensor([[2.0, 1.5, 1.5]]), torch.tensor([0])
    plain = vp2t_loss(logits, labels, torch.ones(1, 3))
    guided = vp2t_loss(logits, labels, torch.tensor([[1.0, 0.1, 1.0]]))
    assert guided < plain


def test_single_class_batch_has_finite_gradients():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = t2vp_loss(logits, torch.zeros(4, dtype=torch.long), torch.ones(3, 3))
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_loss_terms_compose_the_total():
    torch.manual_seed(0)
    cfg = tiny_cfg({"model.lambda_ucmr": 0.5})
    model = build_model(cfg, tiny_classes())
    video, pose, labels = tiny_batch(cfg, batch=4)
    terms = build_loss(cfg)(model(video, pose), labels)
    assert set(terms) == {"vp2t", "t2vp", "sgmc", "ucmr_video", "ucmr_pose", "ucmr", "total"}
    torch.testing.assert_close(terms["sgmc"], (terms["vp2t"] + terms["t2vp"]) / 2)
    torch.testing.assert_close(terms["ucmr"], terms["ucmr_video"] + terms["ucmr_pose"])
    torch.testing.assert_close(terms["total"], terms["sgmc"] + 0.5 * terms["ucmr"])
    assert all(torch.isfinite(v) for v in terms.values())


def test_batch_terms_gather_across_ranks_like_one_big_batch(tmp_path):
    """Two gloo processes on halves of a batch: the mean of their losses and their gradients
    (as DDP averages them) equal one process on the whole batch."""
    g = torch.Generator().manual_seed(6)
    data = {"a": torch.randn(6, 8, generator=g), "b": torch.randn(6, 8, generator=g),
            "logits": torch.randn(6, 4, generator=g) * 3, "labels": torch.tensor([0, 1, 1, 3, 0, 1]),
            "strength": torch.rand(4, 4, generator=g) + 0.1}
    # spawn, not fork: a forked child inherits native threads that Python's threading cannot see
    # (OpenMP / onnxruntime pools of earlier tests) and once aborted in a full suite run
    # ("terminate called without an active exception"); spawn re-imports torch, a few seconds more.
    mp.start_processes(loss_rank_worker, args=(2, str(tmp_path / "init"), data, str(tmp_path)), nprocs=2,
                       join=True, start_method="spawn")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    a, b = data["a"].clone().requires_grad_(), data["b"].clone().requires_grad_()
    logits = data["logits"].clone().requires_grad_()
    x, y = nt_xent(a, b, 0.2), t2vp_loss(logits, data["labels"], data["strength"])
    (x + y).backward()
    assert (ranks[0]["x"] + ranks[1]["x"]) / 2 == pytest.approx(x.item(), abs=1e-5)
    assert ranks[0]["y"] == pytest.approx(y.item(), abs=1e-5) and ranks[1]["y"] == pytest.approx(y.item(), abs=1e-5)
    # DDP averages gradients over ranks; here: the per-rank gradients over 2 = the big-batch ones
    for key, full in (("ga", a.grad), ("gb", b.grad), ("gl", logits.grad)):
        got = torch.cat([ranks[0][key], ranks[1][key]]) / 2
        torch.testing.assert_close(got, full, atol=1e-5, rtol=1e-4)
