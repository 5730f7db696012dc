"""Classification metrics over a split: top-k, mean class accuracy, per-class and per-attribute.

All functions take class scores `(N, C)` (any monotone score: logits or probabilities) and
integer labels `(N,)` as NumPy arrays.
"""

import csv
from pathlib import Path
from typing import Any

import numpy as np


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the k highest scores (ties broken by class index)."""
    if len(labels) == 0:
        return 0.0
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def mean_class_accuracy(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Mean over classes present in `labels` of the per-class recall (FineGym's metric)."""
    cm = confusion_matrix(pred, labels, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return 0.0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def attribute_accuracy(pred: np.ndarray, labels: np.ndarray, attributes: list[dict[str, str]]) -> dict[str, float]:
    """Per attribute name: fraction of samples whose predicted class has the true attribute value.

    Args:
        attributes: per class, its attribute values (classes.json `attributes`, e.g. Diving48
            takeoff / somersaults / twists / position); classes without attributes are skipped.
    """
    names = sorted({n for a in attributes for n in a})
    out = {}
    for name in names:
        hits = [attributes[p].get(name) == attributes[y].get(name) for p, y in zip(pred, labels)
                if name in attributes[y]]
        if hits:
            out[name] = float(np.mean(hits))
    return out


def summary(scores: np.ndarray, labels: np.ndarray, attributes: list[dict[str, str]] | None = None) -> dict[str, float]:
    """top1, top5, mean_class_acc and attr/<name> accuracies of one split."""
    num_classes = scores.shape[1]
    pred = scores.argmax(axis=1)
    out = {
        "top1": topk_accuracy(scores, labels, 1),
        "top5": topk_accuracy(scores, labels, 5),
        "mean_class_acc": mean_class_accuracy(pred, labels, num_classes),
        "num_samples": float(len(labels)),
    }
    for name, acc in attribute_accuracy(pred, labels, attributes or [{}] * num_classes).items():
        out[f"attr/{name}"] = acc
    return out


def write_per_class_csv(pred: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path) -> Path:
    """class, name, support, correct, accuracy, most confused with — one row per class."""
    cm = confusion_matrix(pred, labels, len(class_names))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "name", "support", "correct", "accuracy", "most_confused_with"])
        for c, name in enumerate(class_names):
            support, correct = int(cm[c].sum()), int(cm[c, c])
            off = cm[c].copy()
            off[c] = 0
            confused = class_names[int(off.argmax())] if off.sum() > 0 else ""
            acc = f"{correct / support:.4f}" if support else ""
            w.writerow([c, name, support, correct, acc, confused])
    return path


def class_attributes(classes: list[Any]) -> list[dict[str, str]]:
    """Per class its attribute dict, from ClassText records or plain dicts."""
    return [dict(c.attributes if hasattr(c, "attributes") else c.get("attributes", {})) for c in classes]
