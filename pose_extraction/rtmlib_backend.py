"""rtmlib backend: YOLOX + RTMPose (the pieces of rtmlib's `Body`) or one-stage RTMO, on onnxruntime.

rtmlib's own solutions return only the poses; the main-person tracker also needs each person's
box, and `Body` silently runs RTMPose on the whole image when the detector finds nobody. So this
module calls rtmlib's YOLOX / RTMPose / RTMO classes and their pre/post-processing directly.
With `batch_frames` > 1 the models run on stacks: the detector (or RTMO) on that many frames per
`session.run`, RTMPose on every person crop of those frames at once (pose_extraction/batching.py);
rtmlib's pre- and post-processing still run per item, so the detections are the same.
"""

import contextlib
import io
import logging
from pathlib import Path

import cv2
import numpy as np

from pose_extraction.batching import BatchRunner, build_runner
from pose_extraction.models import model_name, resolve_model
from pose_extraction.tracking import Detections, track_main_person
from pose_extraction.types import FrameContext, PoseTrack, check_frames

log = logging.getLogger(__name__)

_DEFAULT_JOINTS = 17


class RtmlibEstimator:
    """Per-frame rtmlib detections of a clip, reduced to the main person's track."""

    backend = "rtmlib"

    def __init__(self, detect: "BodyDetector | RtmoDetector", model: str, min_iou: float, max_jump: float,
                 batch_frames: int = 1):
        self.detect = detect
        self.model = model
        self.min_iou = min_iou
        self.max_jump = max_jump
        self.batch_frames = batch_frames

    def estimate(self, frames: np.ndarray, context: FrameContext) -> PoseTrack:
        """Args: frames (T, H, W, 3) uint8 RGB. Returns the main person's PoseTrack in frame pixels."""
        check_frames(frames)
        height, width = frames.shape[1:3]
        # rtmlib's models take BGR images, as OpenCV reads them
        bgr = [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in frames]
        if self.batch_frames > 1:
            step = self.batch_frames
            dets = [d for start in range(0, len(bgr), step) for d in self.detect.many(bgr[start:start + step])]
        else:
            dets = [self.detect(image) for image in bgr]
        return track_main_person(dets, (width, height), self.min_iou, self.max_jump, self.detect.num_joints)


class BodyDetector:
    """YOLOX person boxes, then RTMPose SimCC keypoints in each box (what rtmlib's `Body` runs)."""

    def __init__(self, det, pose, num_joints: int, det_run: BatchRunner, pose_run: BatchRunner):
        self.det = det
        self.pose = pose
        self.num_joints = num_joints
        self.det_run = det_run
        self.pose_run = pose_run

    def __call__(self, bgr: np.ndarray) -> Detections:
        """Args: bgr (H, W, 3) uint8. Returns every person found, boxes clipped to the frame."""
        boxes = self._kept_boxes(self.det(bgr), bgr.shape)
        if len(boxes) == 0:
            return Detections.empty(self.num_joints)
        keypoints, scores = self.pose(bgr, bboxes=boxes)
        return self._detections(boxes, keypoints, scores)

    def many(self, bgrs: list[np.ndarray]) -> list[Detections]:
        """The same as calling this on each frame: one detector run for all frames, one RTMPose run for all boxes.

        Args: bgrs: B frames (H, W, 3) uint8.
        """
        letterboxed = [self.det.preprocess(bgr) for bgr in bgrs]  # (image, ratio) each
        dets = self.det_run([image for image, _ in letterboxed])[0]  # (B, N, 5)
        boxes = [self._kept_boxes(self.det.postprocess(dets[b:b + 1], ratio), bgr.shape)
                 for b, ((_, ratio), bgr) in enumerate(zip(letterboxed, bgrs))]
        crops = [self.pose.preprocess(bgr, box) for bgr, frame_boxes in zip(bgrs, boxes) for box in frame_boxes]
        if not crops:
            return [Detections.empty(self.num_joints) for _ in bgrs]
        simcc_x, simcc_y = self.pose_run([crop for crop, _, _ in crops])  # (M, K, Wx), (M, K, Wy)
        people = [self.pose.postprocess((simcc_x[i:i + 1], simcc_y[i:i + 1]), center, scale)
                  for i, (_, center, scale) in enumerate(crops)]
        out, first = [], 0
        for frame_boxes in boxes:
            mine = people[first:first + len(frame_boxes)]
            first += len(frame_boxes)
            if not mine:
                out.append(Detections.empty(self.num_joints))
                continue
            keypoints, scores = (np.concatenate(part) for part in zip(*mine))
            out.append(self._detections(frame_boxes, keypoints, scores))
        return out

    @staticmethod
    def _kept_boxes(raw, shape: tuple[int, ...]) -> np.ndarray:
        """rtmlib's YOLOX boxes -> (M, 4) float32 clipped to the frame, those with no area left out."""
        boxes = _clip_boxes(np.asarray(raw, np.float32).reshape(-1, 4), shape)
        return boxes[_has_area(boxes)]  # a box wholly outside the frame leaves nothing to crop

    @staticmethod
    def _detections(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> Detections:
        return Detections(boxes, keypoints.astype(np.float32), np.clip(scores, 0.0, 1.0).astype(np.float32))


class RtmoDetector:
    """One-stage RTMO: boxes and keypoints of every person from one forward pass."""

    def __init__(self, rtmo, num_joints: int, run: BatchRunner):
        self.rtmo = rtmo
        self.num_joints = num_joints
        self.run = run

    def __call__(self, bgr: np.ndarray) -> Detections:
        """Args: bgr (H, W, 3) uint8. Returns every person kept by rtmlib's NMS."""
        image, ratio = self.rtmo.preprocess(bgr)
        det_out, kpt_out = self.rtmo.inference(image)  # (1, N, 5), (1, N, K, 3)
        return self._detections(det_out[0], kpt_out[0], ratio, bgr.shape)

    def many(self, bgrs: list[np.ndarray]) -> list[Detections]:
        """The same as calling this on each frame, with one RTMO run for all frames. Args: bgrs: B frames (H, W, 3)."""
        letterboxed = [self.rtmo.preprocess(bgr) for bgr in bgrs]
        det_out, kpt_out = self.run([image for image, _ in letterboxed])  # (B, N, 5), (B, N, K, 3)
        return [self._detections(det_out[b], kpt_out[b], ratio, bgr.shape)
                for b, ((_, ratio), bgr) in enumerate(zip(letterboxed, bgrs))]

    def _detections(self, dets: np.ndarray, kpts: np.ndarray, ratio: float, shape: tuple[int, ...]) -> Detections:
        """One frame's RTMO outputs (N, 5), (N, K, 3) -> the people kept by rtmlib's NMS, in frame pixels."""
        from rtmlib.tools.object_detection.post_processings import multiclass_nms

        boxes = dets[:, :4] / ratio
        _, keep = multiclass_nms(boxes, dets[:, 4:5], nms_thr=self.rtmo.nms_thr, score_thr=self.rtmo.score_thr)
        if keep is None:
            return Detections.empty(self.num_joints)
        kept = _clip_boxes(boxes[keep], shape)
        inside = _has_area(kept)
        keep = keep[inside]
        return Detections(
            kept[inside],
            (kpts[keep, :, :2] / ratio).astype(np.float32),
            np.clip(kpts[keep, :, 2], 0.0, 1.0).astype(np.float32),
        )


def build_rtmlib(cfg, main_person) -> RtmlibEstimator:
    """An RtmlibEstimator from `schemas.RtmlibConfig` and `schemas.MainPersonConfig` values."""
    provider = _provider(cfg.device)
    build = _build_rtmo if cfg.mode == "rtmo" else _build_body
    detect, name = build(cfg, provider)
    return RtmlibEstimator(detect, name, main_person.min_iou, main_person.max_jump, cfg.batch_frames)


def _build_body(cfg, provider: str) -> tuple[BodyDetector, str]:
    from rtmlib import RTMPose, YOLOX

    det_path = resolve_model(cfg.det_model, cfg.download)
    pose_path = resolve_model(cfg.pose_model, cfg.download)
    det = _quiet(YOLOX, det_path, model_input_size=tuple(cfg.det_input_size), score_thr=cfg.score_thr,
                 backend="onnxruntime", device=cfg.device)
    pose = _quiet(RTMPose, pose_path, model_input_size=tuple(cfg.pose_input_size),
                  backend="onnxruntime", device=cfg.device)
    _check_outputs(pose.session, (3, 3), pose_path, "an RTMPose SimCC model: simcc_x (1, K, Wx), simcc_y (1, K, Wy)")
    for tool, path in ((det, det_path), (pose, pose_path)):
        _set_threads(tool, path, provider, cfg.threads)
    batched = cfg.batch_frames > 1
    runs = (build_runner(det, det_path, batched), build_runner(pose, pose_path, batched))
    detect = BodyDetector(det, pose, _joints(pose.session, output=0, axis=1), *runs)  # simcc_x (1, K, Wx)
    return detect, f"{model_name(cfg.det_model)}+{model_name(cfg.pose_model)}"


def _build_rtmo(cfg, provider: str) -> tuple[RtmoDetector, str]:
    from rtmlib import RTMO

    # rtmlib's Body swaps any pose path containing "rtmo" for its own hub model: use RTMO directly
    path = resolve_model(cfg.pose_model, cfg.download)
    rtmo = _quiet(RTMO, path, model_input_size=tuple(cfg.det_input_size), score_thr=cfg.score_thr,
                  backend="onnxruntime", device=cfg.device)
    _check_outputs(rtmo.session, (3, 4), path, "an RTMO model: dets (1, N, 5), keypoints (1, N, K, 3)")
    _set_threads(rtmo, path, provider, cfg.threads)
    run = build_runner(rtmo, path, cfg.batch_frames > 1)
    return RtmoDetector(rtmo, _joints(rtmo.session, output=1, axis=2), run), model_name(cfg.pose_model)


def _check_outputs(session, ranks: tuple[int, ...], path: Path, expected: str) -> None:
    """Fail early, naming the file, when a model's outputs do not fit the configured mode."""
    got = tuple(len(out.shape) for out in session.get_outputs())
    if got != ranks:
        shapes = [out.shape for out in session.get_outputs()]
        raise ValueError(f"{path} has outputs {shapes}; poses.rtmlib.mode needs {expected}")


def _provider(device: str) -> str:
    import onnxruntime as ort

    provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[device]
    if provider not in ort.get_available_providers():
        raise RuntimeError(
            f"poses.rtmlib.device={device} needs onnxruntime's {provider}, but this onnxruntime offers "
            f"{ort.get_available_providers()} (for CUDA install onnxruntime-gpu, or set device=cpu)"
        )
    return provider


def _quiet(cls, path: Path, **kwargs):
    """Construct an rtmlib tool with its stdout prints sent to the log instead."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tool = cls(str(path), **kwargs)
    if out.getvalue().strip():
        log.debug("rtmlib: %s", out.getvalue().strip())
    return tool


def _set_threads(tool, path: Path, provider: str, threads: int) -> None:
    """rtmlib's sessions take no thread options: replace the session when a thread count is set."""
    if threads <= 0:
        return
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    tool.session = ort.InferenceSession(str(path), sess_options=options, providers=[provider])


def _joints(session, output: int, axis: int) -> int:
    """K from an output's static shape; COCO's 17 when the export left it symbolic."""
    dim = session.get_outputs()[output].shape[axis]
    return dim if isinstance(dim, int) else _DEFAULT_JOINTS


def _clip_boxes(boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Clip (M, 4) xyxy boxes to an (H, W, ...) frame."""
    height, width = shape[:2]
    return np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)


def _has_area(boxes: np.ndarray) -> np.ndarray:
    """(M, 4) xyxy -> (M,) True where the box is at least a pixel wide and tall."""
    return (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
