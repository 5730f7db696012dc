"""ONNX export of the pose models in rtmlib's formats, and the hashes that go beside them."""

import hashlib
from pathlib import Path

import torch

from pevl.pretrain.poses.models import KeypointNet, PersonDetector, SimccHead, YoloxEnd2End

DET_FILE = "synthdive_det.onnx"
POSE_FILE = "synthdive_pose.onnx"
OPSET = 17


def _export(module: torch.nn.Module, shape: tuple[int, ...], outputs: list[str], path: Path, scale: float) -> Path:
    module.eval()
    example = torch.rand(shape) * scale
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=outputs,
                          opset_version=OPSET, dynamo=False, external_data=False, verbose=False)
    return path


def export_detector(model: PersonDetector, input_size: tuple[int, int], path: Path, max_dets: int = 5) -> Path:
    """YOLOX end2end ONNX: input (1, 3, H, W) raw BGR, input_size (height, width) -> dets (1, N, 5), labels (1, N)."""
    return _export(YoloxEnd2End(model, max_dets), (1, 3, *input_size), ["dets", "labels"], path, 255.0)


def export_keypoints(model: KeypointNet, input_size: tuple[int, int], path: Path) -> Path:
    """RTMPose SimCC ONNX: input (1, 3, h, w) normalised, input_size (width, height) -> simcc_x, simcc_y."""
    w, h = input_size
    return _export(SimccHead(model, input_size), (1, 3, h, w), ["simcc_x", "simcc_y"], path, 1.0)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
