"""Key poses on a timeline, eased into per-frame curves (hip/knee angles, wrist targets, pelvis)."""

from dataclasses import dataclass

import numpy as np

from pevl.synth.skeleton import Body, arm_target


@dataclass(frozen=True)
class Key:
    """A key pose at time t (seconds; takeoff is 0). Angles in degrees, per left/right leg.

    x and lift move the mid-hip along the board and up (the hurdle); arms names an arm mode of
    `skeleton.arm_target`, one for both arms or a (left, right) pair.
    """

    t: float
    hip: tuple[float, float]
    knee: tuple[float, float]
    arms: str | tuple[str, str]
    x: float = 0.0
    lift: float = 0.0


def key(t: float, hip: float | tuple[float, float], knee: float | tuple[float, float],
        arms: str | tuple[str, str], x: float = 0.0, lift: float = 0.0) -> Key:
    """Build a Key; a scalar angle applies to both legs."""
    pair = lambda v: (float(v), float(v)) if np.isscalar(v) else (float(v[0]), float(v[1]))  # noqa: E731
    return Key(float(t), pair(hip), pair(knee), arms, float(x), float(lift))


def key_vector(body: Body, k: Key) -> np.ndarray:
    """(12,) hip(2) knee(2) in radians, wrist targets (2x3), x, lift: what gets interpolated."""
    hip, knee = np.radians(k.hip), np.radians(k.knee)
    left, right = (k.arms, k.arms) if isinstance(k.arms, str) else k.arms
    wrists = np.stack([arm_target(body, left, hip, knee)[0], arm_target(body, right, hip, knee)[1]])
    return np.concatenate([hip, knee, wrists.ravel(), [k.x, k.lift]])


def ease(times: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Smoothstep interpolation of keyed values.

    Args:
        times: (K,) increasing key times.
        values: (K, V) key values.
        t: (T,) query times; held constant outside the keys.
    Returns: (T, V).
    """
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    span = np.maximum(times[idx + 1] - times[idx], 1e-9)
    u = np.clip((t - times[idx]) / span, 0.0, 1.0)
    u = u * u * (3.0 - 2.0 * u)
    return values[idx] + (values[idx + 1] - values[idx]) * u[:, None]


def sample_keys(body: Body, keys: list[Key], t: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame curves from keys: hip (T,2), knee (T,2) radians, wrists (T,2,3), x (T,), lift (T,)."""
    keys = sorted(keys, key=lambda k: k.t)
    times = np.array([k.t for k in keys])
    values = ease(times, np.stack([key_vector(body, k) for k in keys]), t)
    return {
        "hip": values[:, 0:2], "knee": values[:, 2:4], "wrists": values[:, 4:10].reshape(-1, 2, 3),
        "x": values[:, 10], "lift": values[:, 11],
    }
