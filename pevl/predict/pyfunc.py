"""The MLflow pyfunc of a trained PeVL model: videos in, one row of top-k classes per video out.

MLflow builds it from the logged model's code file (pyfunc_code.py, "models from code": no
project object is pickled) and calls `load_context`, which loads the model's checkpoint and pose
model files through `load_model_files`, the door `pevl predict` uses; `predict` calls
`predict_one` per video, as `pevl predict` does, so a served model answers `pevl predict`'s top-k.

Input: a DataFrame or a list of dicts, one row per video, with `video` (a path on the machine
that serves the model) or `video_b64` (the file's bytes, base64); param `top_k` (default 5).
Output: one row per input row, in order: video, status (ok | rejected), reason, top_labels,
top_names, top_probs, model_sha256. An input that cannot be predicted (no video named, bad
base64, not a video, no person) is a rejected row with its reason; the other rows are predicted.
"""

import base64
import binascii
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from mlflow.pyfunc import PythonModel

log = logging.getLogger("pevl.predict")
TOP_K = 5
OUTPUT_COLUMNS = ("video", "status", "reason", "top_labels", "top_names", "top_probs", "model_sha256")


def signature() -> Any:
    """The model's MLflow signature: optional string columns video / video_b64, param top_k, the output row."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", "video", required=False), ColSpec("string", "video_b64", required=False)])
    outputs = Schema([ColSpec("string", "video"), ColSpec("string", "status"), ColSpec("string", "reason"),
                      ColSpec(Array("long"), "top_labels"), ColSpec(Array("string"), "top_names"),
                      ColSpec(Array("double"), "top_probs"), ColSpec("string", "model_sha256")])
    return ModelSignature(inputs, outputs, ParamSchema([ParamSpec("top_k", "long", TOP_K)]))


def input_rows(model_input: Any) -> list[dict]:
    """The input as a list of dicts (a DataFrame's records, a list of dicts, one dict)."""
    if hasattr(model_input, "to_dict"):
        return [dict(r) for r in model_input.to_dict("records")] or [{} for _ in range(len(model_input))]
    if isinstance(model_input, dict):
        return [model_input]
    return [dict(r) for r in model_input]


def _text(value: Any) -> str:
    """A non-blank string cell, else '' (pandas fills a missing cell with NaN or None)."""
    return value.strip() if isinstance(value, str) else ""


class PevlPyfunc(PythonModel):
    """A logged PeVL model as MLflow serves it (module doc)."""

    def load_context(self, context: Any) -> None:
        """Load the checkpoint and build the pose estimator once, from the model's artifacts."""
        from pevl.data.loader import check_views
        from pevl.predict.model import load_model_files
        from pevl.predict.pipeline import ClipPipeline
        from pevl.train.distributed import set_threads

        artifacts = context.artifacts
        self.loaded = load_model_files(Path(artifacts["checkpoint"]), Path(artifacts["pose_models"]))
        cfg = self.loaded.cfg
        self.views = (cfg.train.eval_clips, cfg.train.eval_crops)
        check_views(cfg, *self.views)
        set_threads(cfg.train.threads)
        self.pipeline = ClipPipeline(cfg, poses=self.loaded.poses)
        self.lock = threading.Lock()  # one video at a time through the estimator and the model
        log.info("pevl model loaded: %s, %d classes, %s", artifacts["checkpoint"], len(self.loaded.classes),
                 self.pipeline.pose_model)

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would read them as a schema
        """One output row per input row (module doc)."""
        import pandas as pd

        top_k = max(1, int((params or {}).get("top_k") or TOP_K))
        rows = input_rows(model_input)
        with self.lock, tempfile.TemporaryDirectory(prefix="pevl-serve-") as tmp:
            out = [self._predict_row(i, row, top_k, Path(tmp)) for i, row in enumerate(rows)]
        return pd.DataFrame(out, columns=list(OUTPUT_COLUMNS))

    def _rejected(self, video: str, reason: str) -> dict:
        log.warning("served model: %s rejected: %s", video, reason)
        return {"video": video, "status": "rejected", "reason": reason, "top_labels": [], "top_names": [],
                "top_probs": [], "model_sha256": self.loaded.sha256}

    def _predict_row(self, index: int, row: dict, top_k: int, tmp: Path) -> dict:
        from pevl.predict.inputs import VideoInput
        from pevl.predict.predict import predict_one

        path, encoded = _text(row.get("video")), _text(row.get("video_b64"))
        label = path or (f"video_b64[{index}]" if encoded else f"row[{index}]")
        if path and encoded:
            return self._rejected(label, "bad input: give video or video_b64, not both")
        if not path and not encoded:
            return self._rejected(label, "bad input: the row has neither video nor video_b64")
        if encoded:
            try:
                data = base64.b64decode("".join(encoded.split()), validate=True)
            except (binascii.Error, ValueError) as e:
                return self._rejected(label, f"bad input: video_b64 is not base64 ({e})")
            path = str(tmp / f"video_b64-{index}.mp4")
            Path(path).write_bytes(data)
        result = predict_one(VideoInput(Path(path)), self.pipeline, self.loaded, *self.views, top_k)
        if encoded:
            Path(path).unlink(missing_ok=True)
        return {"video": label, "status": result.status, "reason": result.reason, "top_labels": result.top_labels,
                "top_names": result.top_names, "top_probs": result.top_probs, "model_sha256": self.loaded.sha256}
