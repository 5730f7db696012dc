"""A 3D COCO-17 body with per-clip proportions, posed by hip/knee angles and wrist targets.

Body-local frame (metres, origin at the mid-hip): +x is where the chest faces, +y runs from the
hips to the head, +z is the diver's right side. Every function works on T frames at once.
"""

from dataclasses import dataclass

import numpy as np

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NOSE, L_SHOULDER, L_ELBOW, L_WRIST, L_HIP, L_KNEE, L_ANKLE = 0, 5, 7, 9, 11, 13, 15
SIDE = np.array([-1.0, 1.0])  # z sign of the left and the right side


@dataclass(frozen=True)
class Body:
    """Segment lengths and widths of one diver, metres."""

    height: float
    torso: float
    neck: float
    head_r: float
    thigh: float
    shank: float
    upper_arm: float
    forearm: float
    hip_half: float
    shoulder_half: float

    @property
    def arm(self) -> float:
        """Shoulder-to-wrist length with a straight elbow."""
        return self.upper_arm + self.forearm


def sample_body(rng: np.random.Generator) -> Body:
    """Draw a diver's proportions: height 1.55-1.90 m, each segment varied by a few percent."""
    h = float(rng.uniform(1.55, 1.90))

    def part(fraction: float) -> float:
        return float(fraction * h * rng.uniform(0.93, 1.07))

    return Body(
        height=h, torso=part(0.30), neck=part(0.05), head_r=part(0.065), thigh=part(0.245),
        shank=part(0.25), upper_arm=part(0.17), forearm=part(0.155), hip_half=part(0.085),
        shoulder_half=part(0.12),
    )


def leg_points(body: Body, hip: np.ndarray, knee: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hips, knees and ankles in the body frame.

    Args:
        hip: (..., 2) hip flexion of the left/right leg, radians (0 = straight, pi/2 = thigh forward).
        knee: (..., 2) knee flexion, radians (0 = straight).
    Returns: three (..., 2, 3) arrays.
    """
    zeros = np.zeros_like(hip)
    hips = np.stack([zeros, zeros, SIDE * body.hip_half + zeros], axis=-1)
    thigh = np.stack([np.sin(hip), -np.cos(hip), zeros], axis=-1)
    shank = np.stack([np.sin(hip - knee), -np.cos(hip - knee), zeros], axis=-1)
    knees = hips + body.thigh * thigh
    # Feet come a little closer together than the hips, as divers hold them.
    ankles = knees + body.shank * shank
    ankles[..., 2] *= 0.6
    return hips, knees, ankles


def shoulder_points(body: Body) -> np.ndarray:
    """(2, 3) left/right shoulders in the body frame."""
    return np.stack([np.zeros(2), np.full(2, body.torso), SIDE * body.shoulder_half], axis=-1)


def arm_target(body: Body, mode: str, hip: np.ndarray, knee: np.ndarray) -> np.ndarray:
    """(2, 3) where the left/right wrists reach for an arm mode, given the (2,) leg angles."""
    sh = shoulder_points(body)
    a = body.arm
    out = SIDE[:, None] * np.array([0.0, 0.0, 1.0])  # outward, per side
    if mode == "sides":
        return sh + a * (np.array([0.05, -0.97, 0.0]) + 0.2 * out)
    if mode == "overhead":
        return sh + a * (np.array([0.03, 1.0, 0.0]) - 0.12 * out)
    if mode == "forward":
        return sh + a * np.array([1.0, 0.0, 0.0])
    if mode in ("swing_f", "swing_b"):  # walking arm swing
        sign = 1.0 if mode == "swing_f" else -1.0
        return sh + a * (np.array([sign * 0.42, -0.9, 0.0]) + 0.12 * out)
    if mode == "back":
        return sh + a * (np.array([-0.55, -0.8, 0.0]) + 0.1 * out)
    if mode == "swan":
        return sh + a * (np.array([0.15, 0.25, 0.0]) + 0.95 * out)
    if mode == "wrap":  # hands folded at the chest while twisting
        return np.array([0.16, 0.78 * body.torso, 0.0]) + np.array([[0, 0, 0.03], [0, 0.04, -0.03]])
    _, knees, ankles = leg_points(body, hip, knee)
    if mode == "ankles":
        return ankles + np.array([0.03, 0.04, 0.0])
    if mode == "shins":
        return 0.5 * (knees + ankles) + np.array([0.08, 0.0, 0.0])
    raise ValueError(f"unknown arm mode {mode!r}")


def _two_bone(root: np.ndarray, target: np.ndarray, a: float, b: float, pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and wrist of a two-segment limb from root toward target, bending toward pole."""
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    direction = d / np.maximum(dist, 1e-6)
    dist = np.clip(dist, 0.25 * (a + b), 0.999 * (a + b))
    along = (a * a - b * b + dist * dist) / (2 * dist)
    up = np.sqrt(np.maximum(a * a - along * along, 0.0))
    p = pole - np.sum(pole * direction, axis=-1, keepdims=True) * direction
    p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-6)
    elbow = root + along * direction + up * p
    return elbow, root + dist * direction


def local_joints(body: Body, hip: np.ndarray, knee: np.ndarray, wrists: np.ndarray) -> np.ndarray:
    """The 17 COCO joints in the body frame.

    Args:
        hip: (T, 2) left/right hip flexion, radians.
        knee: (T, 2) left/right knee flexion, radians.
        wrists: (T, 2, 3) left/right wrist targets in the body frame.
    Returns: (T, 17, 3) float64.
    """
    t = hip.shape[0]
    joints = np.zeros((t, 17, 3))
    hips, knees, ankles = leg_points(body, hip, knee)
    shoulders = np.broadcast_to(shoulder_points(body), (t, 2, 3))
    pole = np.broadcast_to(SIDE[:, None] * np.array([0.0, 0.0, 0.7]) + np.array([-0.6, -0.3, 0.0]), (t, 2, 3))
    elbows, wrist_pts = _two_bone(shoulders, wrists, body.upper_arm, body.forearm, pole)
    for start, pts in ((L_SHOULDER, shoulders), (L_ELBOW, elbows), (L_WRIST, wrist_pts),
                       (L_HIP, hips), (L_KNEE, knees), (L_ANKLE, ankles)):
        joints[:, start:start + 2] = pts
    joints[:, :5] = head_points(body)
    return joints


def head_points(body: Body) -> np.ndarray:
    """(5, 3) nose, eyes and ears in the body frame (the head does not move on the neck)."""
    r = body.head_r
    c = np.array([0.02, body.torso + body.neck + r, 0.0])
    offsets = np.array([
        [0.92 * r, -0.15 * r, 0.0],
        [0.72 * r, 0.22 * r, -0.35 * r], [0.72 * r, 0.22 * r, 0.35 * r],
        [0.0, 0.05 * r, -0.9 * r], [0.0, 0.05 * r, 0.9 * r],
    ])
    return c + offsets


def head_center(body: Body) -> np.ndarray:
    """(3,) centre of the head sphere in the body frame."""
    return np.array([0.02, body.torso + body.neck + body.head_r, 0.0])


def standing_height(body: Body, hip: np.ndarray, knee: np.ndarray) -> np.ndarray:
    """Height of the mid-hip above the lower foot for an upright body. Args: hip, knee (T, 2)."""
    _, _, ankles = leg_points(body, hip, knee)
    return -ankles[..., 1].min(axis=-1) + 0.05
