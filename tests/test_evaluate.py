"""Metrics against naive loops, per-class CSV, confusion PNG; `pevl evaluate` on a trained checkpoint."""

import csv

import numpy as np
import pytest

from pevl.train.metrics import attribute_accuracy, confusion_matrix, mean_class_accuracy, summary, topk_accuracy, write_per_class_csv
from pevl.eval.plots import save_bar_chart, save_confusion_png, save_pose_overlay


def _naive_topk(scores, labels, k):
    hits = 0
    for s, y in zip(scores, labels):
        order = sorted(range(len(s)), key=lambda c: (-s[c], c))
        hits += y in order[:k]
    return hits / len(labels)


def test_metrics_match_naive_loops():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 7))
    labels = rng.integers(0, 7, 50)
    for k in (1, 3, 5, 7):
        assert topk_accuracy(scores, labels, k) == pytest.approx(_naive_topk(scores, labels, k))
    pred = scores.argmax(1)
    per_class = [np.mean([p == y for p, y in zip(pred, labels) if y == c]) for c in range(7) if c in labels]
    assert mean_class_accuracy(pred, labels, 7) == pytest.approx(np.mean(per_class))
    cm = confusion_matrix(pred, labels, 7)
    assert cm.sum() == 50 and all(cm[y, p] >= 1 for p, y in zip(pred, labels))


def test_mean_class_accuracy_differs_from_top1_on_imbalanced_data():
    labels = np.array([0] * 8 + [1] * 2)
    pred = np.zeros(10, dtype=int)  # always class 0
    assert mean_class_accuracy(pred, labels, 2) == pytest.approx(0.5)
    assert np.mean(pred == labels) == pytest.approx(0.8)


def test_attribute_accuracy_counts_partial_credit():
    attrs = [{"takeoff": "back", "twists": "0"}, {"takeoff": "back", "twists": "1"}, {"takeoff": "inward", "twists": "0"}]
    labels = np.array([0, 0, 1, 2])
    pred = np.array([1, 0, 2, 0])
    acc = attribute_accuracy(pred, labels, attrs)
    assert acc["takeoff"] == pytest.approx(2 / 4)  # 1 vs 0 same takeoff, 0 vs 0, 2 vs 1 no, 0 vs 2 no
    assert acc["twists"] == pytest.approx(2 / 4)
    s = summary(np.eye(3)[pred], labels, attrs)
    assert s["attr/takeoff"] == acc["takeoff"] and s["top1"] == pytest.approx(0.25)


def test_reports_are_written(tmp_path):
    labels = np.array([0, 1, 1, 2])
    pred = np.array([0, 1, 2, 2])
    path = write_per_class_csv(pred, labels, ["a", "b", "c"], tmp_path / "per_class.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["support"] for r in rows] == ["1", "2", "1"] and rows[1]["accuracy"] == "0.5000"
    assert rows[1]["most_confused_with"] == "c"
    png = save_confusion_png(confusion_matrix(pred, labels, 3), ["a", "b", "c"], tmp_path / "cm.png")
    bar = save_bar_chart(["x", "y"], {"top-1": [0.2, 0.4]}, tmp_path / "bar.png")
    video = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    pose = np.random.default_rng(0).uniform(0, 1, (4, 17, 3)).astype(np.float32)
    overlay = save_pose_overlay(video, pose, np.random.default_rng(1).uniform(0, 1, (4, 16)), tmp_path / "o.png")
    for p in (png, bar, overlay):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
