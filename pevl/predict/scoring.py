"""The model's part of prediction: prepared clips scored in batches, as `pevl evaluate` scores them.

`pevl evaluate` calls the model on `train.eval_batch_size` clips at a time; one call per video
would cost a small model about twice as much per clip (benchmarks/bench_predict.py). `ScoreQueue`
gathers prepared clips (a video, or a window of one) and scores them in calls of that many clips,
in the order they came; the same sequence of clips always gives the same batches, so the same
scores to the last bit.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pevl.data.loader import collate, eval_views
from pevl.predict.model import LoadedModel
from pevl.predict.pipeline import ClipFrames
from pevl.train.loop import score_views
from pevl.train.metrics import class_attributes
from schemas import AttributePrediction, PredictionRow


def top_classes(scores: np.ndarray, probs: np.ndarray, classes: list[dict],
                k: int) -> tuple[list[int], list[str], list[float]]:
    """Labels, names and probabilities of the k best-scored classes.

    Ranked by the scores, as `pevl evaluate` ranks them (ties by label), not by the rounded probabilities.
    """
    order = np.argsort(-scores, kind="stable")[: min(k, len(scores))]
    return [int(c) for c in order], [classes[c]["name"] for c in order], [float(probs[c]) for c in order]


def attribute_predictions(scores: np.ndarray, probs: np.ndarray, classes: list[dict]) -> list[AttributePrediction]:
    """The top-1 class's attribute values, each with the summed probability of the classes that share it."""
    attributes = class_attributes(classes)
    top = int(np.argmax(scores))
    out = []
    for name, value in sorted(attributes[top].items()):
        share = sum(float(p) for p, a in zip(probs, attributes) if a.get(name) == value)
        out.append(AttributePrediction(name=name, value=value, prob=min(1.0, share)))
    return out


def pose_quality(clip: ClipFrames) -> tuple[float, float]:
    """(fraction of frames with the main person, mean keypoint score over those frames)."""
    scores = clip.keypoints[..., 2]  # (T, K)
    found = (scores > 0).any(axis=1)
    return float(found.mean()), float(scores[found].mean()) if found.any() else 0.0


@dataclass
class Prepared:
    """A video (or window) on its way to a row: the row's known fields and its clip, or its rejected row.

    `done(row, clip)` is called once the row is known (scored or rejected), in the order items were queued.
    """

    base: dict
    clip: ClipFrames | None = None
    row: PredictionRow | None = None
    done: Callable[[PredictionRow, ClipFrames | None], None] | None = field(default=None, repr=False)


class ScoreQueue:
    """Prepared clips scored `batch` at a time (the rest when flushed), rows completed in queue order."""

    def __init__(self, loaded: LoadedModel, cfg_views: tuple[int, int], top_k: int, batch: int):
        self.loaded, (self.clips, self.crops), self.top_k, self.batch = loaded, cfg_views, top_k, max(1, batch)
        self.waiting: list[Prepared] = []

    def add(self, item: Prepared) -> None:
        """Queue an item; score a batch once `batch` clips wait."""
        self.waiting.append(item)
        if sum(i.clip is not None for i in self.waiting) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Score every waiting clip and complete the waiting items, in order."""
        ready = [i for i in self.waiting if i.clip is not None]
        for start in range(0, len(ready), self.batch):
            self._score(ready[start : start + self.batch])
        for item in self.waiting:
            if item.done is not None:
                item.done(item.row, item.clip)
            item.clip = None  # the row holds what is kept; the frames go
        self.waiting = []

    def _score(self, items: list[Prepared]) -> None:
        import torch

        cfg, classes = self.loaded.cfg, self.loaded.classes
        samples = []
        for item in items:
            video, pose = eval_views(item.clip.frames, item.clip.keypoints, cfg, self.clips, self.crops)
            samples.append({"video": video, "pose": pose, "label": -1, "key": ""})
        started = time.perf_counter()
        with torch.no_grad():
            scores = score_views(self.loaded.model, collate(samples), self.loaded.device, self.loaded.dtype)  # (B, C)
            probs = torch.softmax(scores, dim=1)
        model_s = (time.perf_counter() - started) / len(items)
        scores, probs = scores.cpu().numpy(), probs.cpu().numpy().astype(np.float64)
        for item, s, p in zip(items, scores, probs):
            labels, names, top_probs = top_classes(s, p, classes, self.top_k)
            person_frames, keypoint_score = pose_quality(item.clip)
            item.row = PredictionRow(
                **item.base, status="ok", frame_indices=item.clip.frame_indices, top_labels=labels, top_names=names,
                top_probs=top_probs, attributes=attribute_predictions(s, p, classes), person_frames=person_frames,
                keypoint_score=min(1.0, keypoint_score), decode_s=item.clip.decode_s, poses_s=item.clip.poses_s,
                model_s=model_s,
            )
