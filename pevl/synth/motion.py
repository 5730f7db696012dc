"""Dive attributes -> 3D joint trajectories: board -> takeoff -> ballistic flight -> entry -> underwater.

World frame (metres): +x points from the board out over the pool, +y up with the water surface at
y = 0, +z toward the side camera. The takeoff attribute sets the initial facing (Forward/Reverse face
the water, Back/Inward face the board) and the somersault direction (Forward/Back rotate away from
the board, Reverse/Inward toward it). Somersaults turn the body about the world z axis, twists about
the body's own long axis; the flight position sets hip/knee flexion while the diver is closed.
"""

from dataclasses import dataclass

import numpy as np

from pevl.synth.keyframes import Key, key, sample_keys
from pevl.synth.skeleton import Body, local_joints, standing_height
from pevl.synth.vocab import DiveClass

GRAVITY = 9.81
BOARD_HEIGHTS = np.array([1.0, 3.0, 5.0, 7.5, 10.0])
BOARD_ODDS = np.array([0.05, 0.45, 0.10, 0.10, 0.30])


@dataclass(frozen=True)
class Motion:
    """One dive sampled at the clip's frame times.

    Attributes:
        times: (T,) seconds relative to takeoff.
        joints: (T, 17, 3) world positions of the COCO joints, metres.
        takeoff_frame: first frame in the air.
        entry_frame: first frame at or after the entry (hands or feet at the water).
        entry_time: seconds from takeoff to the entry.
        board_height: height of the board or platform top, metres.
        entry_x: x of the entry point, metres.
        twist: (T,) signed twist angle about the body's long axis, radians (captions read its rate).
    """

    times: np.ndarray
    joints: np.ndarray
    takeoff_frame: int
    entry_frame: int
    entry_time: float
    board_height: float
    entry_x: float
    twist: np.ndarray | None = None


def _board_keys(faces_water: bool, rng: np.random.Generator) -> list[Key]:
    """Before takeoff: an approach with a hurdle when facing the water, else a standing start."""
    if faces_water:
        steps, step_t, step_len = int(rng.integers(2, 4)), rng.uniform(0.38, 0.48), rng.uniform(0.5, 0.65)
        t0, x0 = -0.95 - steps * step_t, -0.95 - steps * step_len
        keys = [key(t0 - 0.3, 0, 0, "sides", x=x0)]
        for i in range(steps):
            lead = (25, -15) if i % 2 == 0 else (-15, 25)
            arms = ("swing_b", "swing_f") if i % 2 == 0 else ("swing_f", "swing_b")
            knees = (10, 35) if i % 2 == 0 else (35, 10)
            keys.append(key(t0 + (i + 0.5) * step_t, lead, knees, arms, x=x0 + (i + 0.5) * step_len))
        return keys + [
            key(-0.95, 0, 5, "sides", x=-0.95),
            key(-0.75, (85, 0), (95, 0), "overhead", x=-0.6, lift=rng.uniform(0.25, 0.45)),
            key(-0.55, 15, 20, "forward", x=-0.25),
            key(-0.22, 45, 80, "back", x=-0.15),
            key(0.0, 0, 0, "overhead", x=-0.05),
        ]
    start = -rng.uniform(1.3, 2.2)
    return [
        key(start, 0, 0, "sides", x=-0.12),
        key(-1.15, 0, 0, "forward", x=-0.12),
        key(-0.6, 0, 0, "forward", x=-0.12),
        key(-0.25, 45, 75, "back", x=-0.12),
        key(0.0, 0, 0, "overhead", x=-0.05),
    ]


def _position_key(dive: DiveClass, u: float, rng: np.random.Generator) -> Key:
    """The closed flight position (pike, tuck, free) at flight fraction u."""
    if dive.position == "PIKE":
        return key(u, rng.uniform(125, 145), rng.uniform(0, 6), "ankles")
    if dive.position == "TUCK":
        return key(u, rng.uniform(118, 132), rng.uniform(128, 142), "shins")
    if dive.position == "STR":
        return key(u, -8, 0, "swan")
    return key(u, rng.uniform(45, 65), rng.uniform(0, 10), "wrap")  # FREE: a brief pike, arms in


def _flight_keys(dive: DiveClass, entry_arms: str, rng: np.random.Generator) -> tuple[list[Key], tuple[float, float]]:
    """Flight keys at flight fractions u in [0, 1], and the (start, end) fraction of the twist."""
    open_ = lambda u, arms=entry_arms: key(u, 0, 0, arms)  # noqa: E731
    if dive.twist_turns > 0 and dive.position == "FREE":
        keys = [open_(0, "overhead"), _position_key(dive, 0.1, rng), key(0.2, 0, 0, "wrap"),
                key(0.75, 0, 0, "wrap"), open_(0.87), open_(1.0)]
        return keys, (0.2, 0.75)
    if dive.twist_turns > 0:  # twist straight first, then somersault in the position
        keys = [open_(0, "overhead"), key(0.12, 0, 0, "wrap"), key(0.42, 0, 0, "wrap"),
                _position_key(dive, 0.52, rng), _position_key(dive, 0.8, rng), open_(0.9), open_(1.0)]
        return keys, (0.1, 0.42)
    if dive.somersault_turns == 0.5:
        u_in = rng.uniform(0.18, 0.28)
        u_out = rng.uniform(0.45, 0.55) if dive.position != "STR" else 0.6
        keys = [open_(0, "overhead"), _position_key(dive, u_in, rng), _position_key(dive, u_out, rng),
                open_(u_out + 0.2), open_(1.0)]
        return keys, (0.0, 0.0)
    u_out = rng.uniform(0.72, 0.8)
    keys = [open_(0, "overhead"), _position_key(dive, rng.uniform(0.1, 0.16), rng),
            _position_key(dive, u_out, rng), open_(u_out + 0.1), open_(1.0)]
    return keys, (0.0, 0.0)


def _somersault_angle(hip: np.ndarray, turns: float) -> np.ndarray:
    """Cumulative somersault angle over a uniform flight grid, turning faster while closed.

    Args:
        hip: (G,) mean hip flexion (radians) on the grid; closing the body speeds the rotation, as
            a smaller moment of inertia does.
    Returns: (G,) radians from 0 to turns * 2 pi.
    """
    rate = 1.0 + 1.6 * np.clip(hip / np.radians(130), 0.0, 1.2)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]))])
    return turns * 2 * np.pi * cum / cum[-1]


def _rotations(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """(T, 3, 3) body-to-world rotations: R_z(theta) @ R_y(phi)."""
    ct, st, cp, sp = np.cos(theta), np.sin(theta), np.cos(phi), np.sin(phi)
    rz = np.zeros((len(theta), 3, 3))
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1], rz[:, 2, 2] = ct, -st, st, ct, 1.0
    ry = np.zeros((len(phi), 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 2, 0], ry[:, 2, 2], ry[:, 1, 1] = cp, sp, -sp, cp, 1.0
    return rz @ ry


def _pelvis(times: np.ndarray, curves: dict[str, np.ndarray], body: Body, height: float,
            flight_s: float, vx: float, vy: float) -> np.ndarray:
    """(T, 3) mid-hip path: on the board, then ballistic, then slowed by the water."""
    y0 = height + standing_height(body, np.zeros((1, 2)), np.zeros((1, 2)))[0]
    x0 = curves["x"][np.searchsorted(times, 0.0)] if times[-1] >= 0 else curves["x"][-1]
    board_y = height + standing_height(body, curves["hip"], curves["knee"]) + curves["lift"]
    tf = np.clip(times, 0.0, flight_s)
    x = np.where(times < 0, curves["x"], x0 + vx * tf)
    y = np.where(times < 0, board_y, y0 + vy * tf - 0.5 * GRAVITY * tf * tf)
    # Under water the body keeps moving along its entry velocity, damped.
    tau = np.maximum(times - flight_s, 0.0)
    damp = 0.35 * (1.0 - np.exp(-tau / 0.35))
    x = x + vx * damp
    y = y + (vy - GRAVITY * flight_s) * damp
    return np.stack([x, y, np.zeros_like(x)], axis=-1)


def build_motion(dive: DiveClass, body: Body, rng: np.random.Generator, fps: int, height: float) -> Motion:
    """Sample one performance of `dive` by `body` at `fps` frames per second from a `height` m board.

    A 1 m board is raised to 3 m for dives with more than 1.5 somersaults.
    """
    faces_water = dive.takeoff in ("Forward", "Reverse")
    spin = -1.0 if dive.takeoff in ("Forward", "Back") else 1.0  # -1: head moves toward +x
    facing = 0.0 if faces_water else np.pi
    head_first = dive.somersault_turns % 1 == 0.5
    if height < 2 and dive.somersault_turns > 1.5:
        height = 3.0
    vy = rng.uniform(4.2, 5.2) if height <= 3 else rng.uniform(2.0, 3.5)
    vx = rng.uniform(0.5, 1.2)
    y0 = height + standing_height(body, np.zeros((1, 2)), np.zeros((1, 2)))[0]
    y_entry = (0.58 if head_first else 0.5) * body.height
    flight_s = (vy + np.sqrt(vy * vy + 2 * GRAVITY * (y0 - y_entry))) / GRAVITY

    entry_arms = "overhead" if head_first else "sides"
    board = _board_keys(faces_water, rng)
    flight, (tw0, tw1) = _flight_keys(dive, entry_arms, rng)
    flight = [Key(k.t * flight_s, k.hip, k.knee, k.arms) for k in flight if k.t > 0]
    under_s = rng.uniform(0.3, 0.8)
    keys = board + flight + [key(flight_s + under_s, 0, 0, entry_arms)]

    t_start = rng.uniform(board[0].t - 0.2, -0.25)
    n = int(np.floor((flight_s + under_s - t_start) * fps)) + 1
    times = t_start + np.arange(n) / fps
    curves = sample_keys(body, keys, times)

    grid = np.linspace(0.0, flight_s, 400)
    theta_grid = _somersault_angle(sample_keys(body, keys, grid)["hip"].mean(axis=1), dive.somersault_turns)
    theta = np.interp(times, grid, theta_grid)  # 0 before takeoff, all turns after entry
    u = np.clip((times / flight_s - tw0) / max(tw1 - tw0, 1e-6), 0.0, 1.0)
    twist = rng.choice([-1.0, 1.0]) * dive.twist_turns * 2 * np.pi * u * u * (3 - 2 * u)
    rot = _rotations(spin * theta, facing + twist)

    local = local_joints(body, curves["hip"], curves["knee"], curves["wrists"])
    pelvis = _pelvis(times, curves, body, height, flight_s, vx, vy)
    joints = pelvis[:, None, :] + np.einsum("tij,tkj->tki", rot, local)  # (T, 17, 3)
    takeoff = int(np.searchsorted(times, 0.0))
    entry = min(int(np.searchsorted(times, flight_s)), n - 1)
    return Motion(times, joints, takeoff, entry, float(flight_s), height, float(pelvis[entry, 0]), twist)
