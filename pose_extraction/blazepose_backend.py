"""BlazePose backend: MediaPipe's pretrained person detector and 33-landmark model on real people, offline.

Both TFLite models come out of a pinned registry wheel (`pose_extraction.registry_files`) and run
on LiteRT (`ai-edge-litert`, the TFLite runtime on PyPI). Per frame: the detector finds every
person (`pose_extraction.blazepose_detector`), the landmark model (`pose_landmark_full.tflite`,
256 x 256, inputs in [0, 1]) reads each person's upright body region, its 33 landmarks are
mapped to the project's 17 COCO joints, and the main-person tracker the rtmlib backend uses
keeps one person through the clip. Joint scores are the landmark's visibility x presence.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pose_extraction.blazepose_detector import (BodyRegion, anchor_centres, body_region, decode, letterbox,
                                                region_from_points)
from pose_extraction.registry_files import BLAZEPOSE, fetch_files, models_folder, verified_folder
from pose_extraction.tracking import Detections, box_iou, track_main_person
from pose_extraction.types import FrameContext, PoseTrack, check_frames

log = logging.getLogger(__name__)

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
CROP_SIZE = 256
# BlazePose's 33 landmarks in COCO-17 order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (L, R)
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
NUM_JOINTS = len(COCO_FROM_BLAZEPOSE)
BODY_LANDMARKS = 33  # then two alignment points and four of the hands and feet the model also outputs
ALIGN_LANDMARKS = (33, 34)  # the hips' midpoint and a point on the body circle: the next frame's region
SAME_PERSON_IOU = 0.5  # person boxes overlapping more than this are one person (the most present one is kept)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


@dataclass(frozen=True)
class Person:
    """One person's landmarks in a frame: the 17 joints, their scores, the model's pose presence, and
    the body region its own alignment landmarks give for the next frame."""

    joints: np.ndarray  # (17, 2) frame pixels
    scores: np.ndarray  # (17,)
    presence: float
    box: np.ndarray  # (4,) x1, y1, x2, y2 around the 33 body landmarks: a tight person box, as detectors give
    region: BodyRegion


class BlazePoseDetector:
    """Every person in one RGB frame: the detector's regions and the regions carried over from the
    previous frame's people (as MediaPipe tracks), each read by the landmark model, duplicates merged."""

    def __init__(self, detector, landmarks, score_thr: float, presence_thr: float, max_people: int):
        self.detector = detector
        self.landmarks = landmarks
        self.score_thr = score_thr
        self.presence_thr = presence_thr
        self.max_people = max_people
        self.anchors = anchor_centres()
        self.num_joints = NUM_JOINTS

    def regions(self, rgb: np.ndarray) -> list[BodyRegion]:
        """The body regions of the people the detector finds, best first (at most max_people)."""
        image, side, pad = letterbox(rgb)
        raw_boxes, raw_scores = _run(self.detector, image)  # (1, 2254, 12), (1, 2254, 1)
        rows = decode(raw_boxes[0], raw_scores[0, :, 0], self.anchors, self.score_thr)
        return [body_region(row, side, pad) for row in rows[: self.max_people]]

    def person(self, rgb: np.ndarray, region: BodyRegion) -> Person:
        """The landmark model on one region: 17 joints in frame pixels, scores, presence, the next region."""
        to_frame = region.crop_to_frame(CROP_SIZE)
        crop = cv2.warpAffine(rgb, to_frame, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        outputs = _run(self.landmarks, (crop.astype(np.float32) / 255.0)[None])
        values = outputs[0].reshape(-1, 5)  # (39, 5): x, y, z, visibility, presence in crop pixels
        points = values[:, :2] @ to_frame[:, :2].T + to_frame[:, 2]  # (39, 2) frame pixels
        joints = list(COCO_FROM_BLAZEPOSE)
        scores = _sigmoid(values[joints, 3]) * _sigmoid(values[joints, 4])
        presence = float(np.clip(outputs[1].ravel()[0], 0.0, 1.0))  # the model ends in a sigmoid already
        body = points[:BODY_LANDMARKS]
        box = np.concatenate([body.min(0), body.max(0)]).astype(np.float32)
        hips, circle = points[ALIGN_LANDMARKS[0]], points[ALIGN_LANDMARKS[1]]
        return Person(points[joints].astype(np.float32), scores.astype(np.float32), presence, box,
                      region_from_points(hips, circle, presence))

    def people(self, rgb: np.ndarray, carried: list[BodyRegion]) -> list[Person]:
        """Everyone found in a frame, from fresh detections and carried regions, one entry per person."""
        found = [p for p in (self.person(rgb, r) for r in [*carried, *self.regions(rgb)])
                 if p.presence >= self.presence_thr]
        kept: list[Person] = []
        for p in sorted(found, key=lambda p: -p.presence):
            if all(box_iou(p.box, k.box[None])[0] <= SAME_PERSON_IOU for k in kept):
                kept.append(p)
        return kept[: self.max_people]

    @staticmethod
    def detections(people: list[Person], shape: tuple[int, ...]) -> Detections:
        """The people as the tracker's Detections (their boxes clipped to the frame)."""
        if not people:
            return Detections.empty(NUM_JOINTS)
        height, width = shape[:2]
        boxes = np.clip(np.stack([p.box for p in people]), 0, [width, height, width, height])
        return Detections(boxes.astype(np.float32), np.stack([p.joints for p in people]),
                          np.clip(np.stack([p.scores for p in people]), 0.0, 1.0))


class BlazePoseEstimator:
    """Per-frame BlazePose detections of a clip, reduced to the main person's track."""

    backend = "blazepose"

    def __init__(self, detect: BlazePoseDetector, model: str, min_iou: float, max_jump: float):
        self.detect = detect
        self.model = model
        self.min_iou = min_iou
        self.max_jump = max_jump

    def estimate(self, frames: np.ndarray, context: FrameContext) -> PoseTrack:
        """Args: frames (T, H, W, 3) uint8 RGB. Returns the main person's PoseTrack in frame pixels."""
        check_frames(frames)
        height, width = frames.shape[1:3]
        dets, carried = [], []
        for frame in frames:
            people = self.detect.people(frame, carried)
            carried = [p.region for p in people]
            dets.append(self.detect.detections(people, frame.shape))
        return track_main_person(dets, (width, height), self.min_iou, self.max_jump, NUM_JOINTS)


def build_blazepose(cfg, main_person) -> BlazePoseEstimator:
    """A BlazePoseEstimator from `schemas.BlazePoseConfig` and `schemas.MainPersonConfig` values.

    The model files come from `cfg.model_dir`, else the model cache (fetched first when
    `cfg.download` is on); ModelNotFoundError says what to fetch and where to put it.
    """
    folder = _models_folder(cfg)
    detector = _interpreter(folder / DETECTOR_FILE, cfg.threads)
    landmarks = _interpreter(folder / LANDMARK_FILE, cfg.threads)
    detect = BlazePoseDetector(detector, landmarks, cfg.score_thr, cfg.presence_thr, cfg.max_people)
    return BlazePoseEstimator(detect, "blazepose-full", main_person.min_iou, main_person.max_jump)


def _models_folder(cfg) -> Path:
    """cfg.model_dir as it is; else the cache, fetched first when downloads are on."""
    if cfg.model_dir is not None:
        return verified_folder(BLAZEPOSE, Path(cfg.model_dir))
    return fetch_files(BLAZEPOSE) if cfg.download else verified_folder(BLAZEPOSE, models_folder(BLAZEPOSE))


def _interpreter(path: Path, threads: int):
    """A LiteRT interpreter with its tensors allocated; `threads` 0 lets the runtime choose."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter, image: np.ndarray) -> list[np.ndarray]:
    """One forward pass; the outputs in the model's order."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    outputs = sorted(interpreter.get_output_details(), key=lambda d: d["name"])  # Identity, Identity_1, ...
    return [interpreter.get_tensor(d["index"]) for d in outputs]
