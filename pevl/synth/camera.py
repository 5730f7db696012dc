"""A side camera that follows the diver with lag, zoom drift, roll and hand-held jitter.

The scene behind the diver is a flat panorama at z = 0; a frame is that panorama warped by one
affine matrix, and the diver's joints go through the same matrix after a perspective factor for
their depth, so joints and background always agree.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraPath:
    """Per-frame camera state.

    Attributes:
        center: (T, 2) world x, y at the image centre.
        scale: (T,) pixels per metre on the z = 0 plane.
        roll: (T,) image rotation, radians.
        yaw: view direction about the vertical axis, radians (0 = square side view).
        distance: camera distance from the z = 0 plane, metres.
        size: (width, height) of the frames.
    """

    center: np.ndarray
    scale: np.ndarray
    roll: np.ndarray
    yaw: float
    distance: float
    size: tuple[int, int]


def _wobble(rng: np.random.Generator, times: np.ndarray, amplitude: float, hz: tuple[float, float]) -> np.ndarray:
    """(T,) a sum of two sinusoids with random phases: slow hand-held drift."""
    out = np.zeros_like(times)
    for _ in range(2):
        f, phase = rng.uniform(*hz), rng.uniform(0, 2 * np.pi)
        out += amplitude * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * times + phase)
    return out


def sample_camera(pelvis: np.ndarray, times: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> CameraPath:
    """A camera path that tracks the mid-hip.

    Args:
        pelvis: (T, 3) world mid-hip positions.
        times: (T,) seconds.
    """
    width, height = size
    base = height * rng.uniform(0.16, 0.26)
    target = np.stack([pelvis[:, 0], np.maximum(pelvis[:, 1], 1.2)], axis=-1)
    target = target + np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.4)])
    # Causal exponential smoothing: the operator lags behind a fast fall.
    tau = rng.uniform(0.02, 0.06)
    dt = np.diff(times, prepend=times[0])
    smooth = np.empty_like(target)
    smooth[0] = target[0]
    for i in range(1, len(times)):
        a = 1.0 - np.exp(-dt[i] / tau)
        smooth[i] = smooth[i - 1] + a * (target[i] - smooth[i - 1])
    gain = rng.uniform(0.8, 1.0)
    center = gain * smooth + (1 - gain) * target.mean(axis=0)
    shake = rng.uniform(0.0, 0.8)
    for axis in range(2):
        px = _wobble(rng, times, rng.uniform(0.5, 3.0), (0.3, 1.5)) + rng.normal(0, shake, len(times))
        center[:, axis] += px / base
    scale = base * (1.0 + _wobble(rng, times, 0.04, (0.1, 0.5)))
    roll = np.radians(rng.normal(0, 1.0) + _wobble(rng, times, 0.5, (0.2, 1.0)))
    yaw = float(np.radians(rng.uniform(-28, 28)))
    return CameraPath(center, scale, roll, yaw, float(rng.uniform(8, 20)), (width, height))


def _linear(cam: CameraPath) -> np.ndarray:
    """(T, 2, 2) world-offset (x right, y up) to pixel-offset maps: scale, y flip, roll."""
    c, s = np.cos(cam.roll), np.sin(cam.roll)
    return cam.scale[:, None, None] * np.stack([np.stack([c, s], -1), np.stack([s, -c], -1)], 1)


def project(cam: CameraPath, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points -> pixels and depth.

    Args:
        points: (T, K, 3) world positions.
    Returns: (T, K, 2) pixel x, y and (T, K) depth toward the camera (larger = nearer).
    """
    cy, sy = np.cos(cam.yaw), np.sin(cam.yaw)
    x = points[..., 0] * cy + points[..., 2] * sy
    z = -points[..., 0] * sy + points[..., 2] * cy
    persp = cam.distance / np.maximum(cam.distance - z, 1.0)
    rel = np.stack([(x - cam.center[:, None, 0]) * persp, (points[..., 1] - cam.center[:, None, 1]) * persp], axis=-1)
    pix = np.einsum("tij,tkj->tki", _linear(cam), rel) + np.array(cam.size) / 2.0
    return pix, z


def panorama_affines(cam: CameraPath, origin: tuple[float, float], pano_scale: float) -> np.ndarray:
    """(T, 2, 3) matrices from panorama pixels to each frame's pixels.

    Args:
        origin: world (x, y) of the panorama's top-left pixel.
        pano_scale: panorama pixels per metre.
    """
    lin = _linear(cam) / pano_scale
    # Panorama pixel (u, v) is world (x0 + u/s, y0 - v/s): fold the flip of v into the matrix.
    a = lin * np.array([1.0, -1.0])
    offset = (np.asarray(origin) - cam.center) * pano_scale  # (T, 2)
    b = np.einsum("tij,tj->ti", lin, offset) + np.array(cam.size) / 2.0
    return np.concatenate([a, b[:, :, None]], axis=2)
