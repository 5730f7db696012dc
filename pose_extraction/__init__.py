"""Video frames -> the main person's 2D keypoints: rtmlib and ground-truth backends, main-person tracking.

Never imports `pevl`; backends load lazily, so importing this package loads neither rtmlib nor onnxruntime.
"""

from pose_extraction.build import build_estimator
from pose_extraction.models import ModelNotFoundError, resolve_model, rtmlib_cache_dir
from pose_extraction.types import FrameContext, PoseEstimator, PoseTrack

__all__ = [
    "FrameContext", "ModelNotFoundError", "PoseEstimator", "PoseTrack",
    "build_estimator", "resolve_model", "rtmlib_cache_dir",
]
