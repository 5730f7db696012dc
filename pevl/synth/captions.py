"""Per-frame photo captions of a SynthDive clip, written from the renderer's own state.

A caption says what one still frame shows, as a caption of a diving photo on the internet would:
the phase (on the board, taking off, in flight, entering the water, under water), the body's
orientation and shape, which way the diver faces (the board or the water, the camera), the splash,
the framing, the venue and the board height. It never names the class, a somersault or twist
count or the takeoff group: counting and direction are left to the video model.
"""

from dataclasses import dataclass

import numpy as np

from pevl.synth.render import DiveScene
from pevl.synth.skeleton import L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, NOSE

PHASES = ("on the board", "taking off", "in flight", "entering the water", "under water")
SHAPES = ("straight", "piked", "tucked")
# Seconds around takeoff (t = 0) that count as "taking off"; the spring and the first rise.
TAKEOFF_WINDOW = (-0.3, 0.12)
TWIST_RATE = 1.5  # rad/s of the twist angle above which a frame counts as twisting


@dataclass(frozen=True)
class FrameState:
    """What one frame shows, in caption words (None: not said for this frame)."""

    phase: str
    orientation: str | None
    shape: str | None
    twisting: bool
    facing_board: str | None
    facing_camera: str | None
    splash: bool
    framing: str
    size: str
    venue: str
    board: str


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) degrees between (T, 3) vectors."""
    return np.degrees(np.arccos(np.clip((_unit(a) * _unit(b)).sum(-1), -1.0, 1.0)))


def _pairs(joints: np.ndarray, left: int) -> np.ndarray:
    """(T, 3) mean of a COCO left joint and the right one after it."""
    return joints[:, left:left + 2].mean(axis=1)


def phases(scene: DiveScene) -> list[str]:
    """The phase of every frame, from the clip times and where the joints are against the water."""
    t, y = scene.motion.times, scene.motion.joints[..., 1]
    out = []
    for i in range(len(t)):
        if y[i].max() < 0.0:
            out.append("under water")
        elif t[i] > 0 and y[i].min() < 0.05:
            out.append("entering the water")
        elif t[i] > TAKEOFF_WINDOW[1]:
            out.append("in flight")
        elif t[i] >= TAKEOFF_WINDOW[0]:
            out.append("taking off")
        else:
            out.append("on the board")
    return out


def _orientation(up: np.ndarray) -> list[str]:
    """Upright / horizontal / upside down from the angle of the hips-to-shoulders axis to vertical."""
    tilt = _angle(up, np.array([0.0, 1.0, 0.0]))
    return ["upright" if a < 40 else "upside down" if a > 140 else "horizontal" for a in tilt]


def _shape(joints: np.ndarray) -> list[str | None]:
    """Straight / piked / tucked from the hip and knee angles (180 = straight); None in between."""
    shoulder, hip, knee, ankle = (_pairs(joints, j) for j in (L_SHOULDER, L_HIP, L_KNEE, L_ANKLE))
    hip_a, knee_a = _angle(shoulder - hip, knee - hip), _angle(hip - knee, ankle - knee)
    out: list[str | None] = []
    for h, k in zip(hip_a, knee_a):
        if h > 150 and k > 150:
            out.append("straight")
        elif h < 115 and k > 140:
            out.append("piked")
        elif h < 115 and k < 100:
            out.append("tucked")
        else:
            out.append(None)
    return out


def _facings(chest: np.ndarray, yaw: float) -> tuple[list[str | None], list[str | None]]:
    """Facing the board or the water (world x), and the camera (its view direction)."""
    to_camera = np.array([-np.sin(yaw), 0.0, np.cos(yaw)])
    board, camera = [], []
    for c in chest:
        board.append("facing the water" if c[0] > 0.5 else "facing the board" if c[0] < -0.5 else None)
        d = float(c @ to_camera)
        camera.append("facing the camera" if d > 0.5 else "facing away from the camera" if d < -0.5 else "side-on to the camera")
    return board, camera


def _framing(pix: np.ndarray, box: tuple[float, float, float, float]) -> tuple[list[str], list[str]]:
    """Whole body / partly / out of frame, and close-up / medium / wide shot, inside crop box (x0, y0, w, h)."""
    x0, y0, w, h = box
    x, y = pix[..., 0] - x0, pix[..., 1] - y0
    inside = ((x >= 0) & (x <= w) & (y >= 0) & (y <= h)).mean(axis=1)  # (T,)
    extent = np.maximum(np.ptp(pix[..., 0], axis=1), np.ptp(pix[..., 1], axis=1)) / h
    framing = ["the whole body in frame" if f == 1 else "out of frame" if f == 0 else "partly out of frame" for f in inside]
    size = ["close-up" if e > 0.5 else "wide shot" if e < 0.3 else "medium shot" for e in extent]
    return framing, size


def board_words(height: float) -> str:
    """'the 3 m springboard' / 'the 10 m platform'."""
    return f"the {height:g} m {'springboard' if height <= 3.0 else 'platform'}"


def frame_states(scene: DiveScene, box: tuple[float, float, float, float] | None = None) -> list[FrameState]:
    """Caption state of every frame of a scene.

    Args:
        box: the crop (x0, y0, w, h) in frame pixels the image will show; None = the whole frame.
    """
    j = scene.motion.joints  # (T, 17, 3)
    up = _pairs(j, L_SHOULDER) - _pairs(j, L_HIP)
    chest = _unit(np.cross(up, j[:, L_SHOULDER + 1] - j[:, L_SHOULDER]))
    board, camera = _facings(chest, scene.camera.yaw)
    framing, size = _framing(scene.pix, box or (0.0, 0.0, float(scene.size[0]), float(scene.size[1])))
    twist = scene.motion.twist if scene.motion.twist is not None else np.zeros(len(j))
    rate = np.abs(np.gradient(twist, scene.motion.times)) if len(j) > 1 else np.zeros(len(j))
    track = scene.splash_track
    splash = track.active & track.alive.any(axis=1)
    orient, shape = _orientation(up), _shape(j)
    head_low = j[:, NOSE, 1] < _pairs(j, L_ANKLE)[:, 1]
    venue = "at an outdoor pool" if scene.panorama.outdoor else "in an indoor pool hall"
    out = []
    for i, phase in enumerate(phases(scene)):
        o = orient[i]
        if phase == "entering the water":
            o = "head first" if head_low[i] else "feet first"
        hidden = phase == "under water"
        out.append(FrameState(
            phase, None if hidden else o, None if hidden else shape[i],
            phase == "in flight" and bool(rate[i] > TWIST_RATE), None if hidden else board[i],
            None if hidden else camera[i], bool(splash[i]), framing[i], size[i], venue,
            board_words(scene.motion.board_height),
        ))
    return out


def caption(state: FrameState) -> str:
    """One sentence from a frame's state."""
    where = {"on the board": f"standing on {state.board}", "taking off": f"taking off from {state.board}"}
    head = f"a diver {where.get(state.phase, state.phase)}"
    if state.phase not in where:
        head += f" below {state.board}"
    body = [state.orientation, state.shape, "twisting" if state.twisting else None]
    parts = [head, *body, state.facing_board, state.facing_camera,
             "with a splash" if state.splash else None, state.framing, state.size, state.venue]
    return ", ".join(p for p in parts if p)


def frame_captions(scene: DiveScene, box: tuple[float, float, float, float] | None = None) -> list[str]:
    """The caption of every frame of a scene (see frame_states for box)."""
    return [caption(s) for s in frame_states(scene, box)]
