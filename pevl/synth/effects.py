"""What happens to a frame after the diver is drawn: water over the submerged body, the entry
splash, sensor noise, brightness flicker and focus blur."""

from dataclasses import dataclass

import cv2
import numpy as np

from pevl.synth.camera import CameraPath, project
from pevl.synth.motion import GRAVITY


@dataclass(frozen=True)
class Splash:
    """Droplets thrown up at the entry.

    Attributes:
        t0: entry time, seconds relative to takeoff.
        x: entry x, metres.
        start: (N, 2) droplet start x, y; velocity: (N, 2) m/s; radius: (N,) metres.
        shade: (N,) grey level of each droplet.
    """

    t0: float
    x: float
    start: np.ndarray
    velocity: np.ndarray
    radius: np.ndarray
    shade: np.ndarray


def sample_splash(rng: np.random.Generator, t0: float, x: float) -> Splash:
    """A splash at entry time t0 and entry point x; a rip entry throws less water."""
    n = int(rng.integers(15, 60))
    start = np.stack([x + rng.normal(0, 0.15, n), np.zeros(n)], axis=-1)
    velocity = np.stack([rng.normal(0, 0.9, n), rng.uniform(0.8, 4.0, n)], axis=-1)
    return Splash(t0, x, start, velocity, rng.uniform(0.02, 0.07, n), rng.uniform(200, 255, n))


@dataclass(frozen=True)
class SplashTrack:
    """Per-frame pixels of a splash.

    Attributes:
        active: (T,) frames that show it; foam: (T, 2) int centre; foam_axes: (T, 2) int radii;
        foam_grey: (T,) int; drops: (T, N, 2) int centres; drop_px: (T, N) int radii;
        alive: (T, N) droplets still above the water; roll: (T,) degrees.
    """

    active: np.ndarray
    foam: np.ndarray
    foam_axes: np.ndarray
    foam_grey: np.ndarray
    drops: np.ndarray
    drop_px: np.ndarray
    alive: np.ndarray
    roll: np.ndarray


def track_splash(splash: Splash, cam: CameraPath, times: np.ndarray) -> SplashTrack:
    """Project the splash into every frame at once."""
    tau = times - splash.t0
    active = (tau >= 0) & (tau <= 1.6)
    tc = np.clip(tau, 0.0, None)[:, None]
    x = splash.start[:, 0] + splash.velocity[:, 0] * tc  # (T, N)
    y = splash.start[:, 1] + splash.velocity[:, 1] * tc - 0.5 * GRAVITY * tc * tc
    pts = np.stack([np.concatenate([np.full((len(times), 1), splash.x), x], 1),
                    np.concatenate([np.zeros((len(times), 1)), y], 1), np.zeros((len(times), x.shape[1] + 1))], -1)
    pix, _ = project(cam, pts)
    pix = np.rint(pix).astype(np.int32)
    s = cam.scale[:, None]
    foam_axes = np.concatenate([(0.25 + 0.6 * np.minimum(tc, 0.8)) * s, (0.08 + 0.12 * np.minimum(tc, 0.5)) * s], 1)
    return SplashTrack(active, pix[:, 0], np.maximum(1, foam_axes).astype(int), (255 - 80 * tc[:, 0]).astype(int),
                       pix[:, 1:], np.maximum(1, splash.radius * s).astype(int), y > -0.05, np.degrees(cam.roll))


def draw_splash(img: np.ndarray, track: SplashTrack, shade: np.ndarray, i: int) -> None:
    """Draw the foam and droplets of frame i in place; shade: (N,) grey level of each droplet."""
    if not track.active[i]:
        return
    grey = int(track.foam_grey[i])
    if grey > 159:
        cv2.ellipse(img, tuple(track.foam[i].tolist()), tuple(track.foam_axes[i].tolist()), float(track.roll[i]),
                    0, 360, (grey, grey, grey - 10), -1)
    for xy, r, g in zip(track.drops[i][track.alive[i]].tolist(), track.drop_px[i][track.alive[i]].tolist(),
                        shade[track.alive[i]].tolist()):
        cv2.circle(img, tuple(xy), r, (int(g), int(g), int(g) - 15), -1)


def submerge(img: np.ndarray, background: np.ndarray, water: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Fade the diver toward the background where the water mask is set, inside box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    sub, bg, m = img[y0:y1, x0:x1], background[y0:y1, x0:x1], water[y0:y1, x0:x1] > 127
    sub[m] = (0.82 * bg[m] + 0.18 * sub[m]).astype(np.uint8)


@dataclass(frozen=True)
class Sensor:
    """Per-clip image degradation.

    Attributes:
        noise_up, noise_down: (H + 8, W + 8, 3) uint8 positive and negative parts of a Gaussian
            noise bank; each frame adds a random window of it with saturating uint8 arithmetic.
        gain: (T,) brightness gain per frame (flicker); bias: brightness offset.
        blur: whether frames are slightly out of focus.
    """

    noise_up: np.ndarray
    noise_down: np.ndarray
    gain: np.ndarray
    bias: float
    blur: bool


def sample_sensor(rng: np.random.Generator, size: tuple[int, int], times: np.ndarray) -> Sensor:
    """Noise level 1-4.5 grey levels, a few percent of flicker, focus blur in a quarter of clips."""
    w, h = size
    noise = np.round(rng.normal(0, rng.uniform(1.0, 4.5), (h + 8, w + 8, 3)))
    up, down = np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)
    gain = 1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * times + rng.uniform(0, 6.3))
    gain = gain + rng.normal(0, 0.008, len(times))
    return Sensor(up, down, gain, float(rng.uniform(-12, 12)), bool(rng.random() < 0.25))


def degrade(img: np.ndarray, sensor: Sensor, i: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, flicker and noise for frame i; returns a new uint8 frame."""
    if sensor.blur:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    img = cv2.convertScaleAbs(img, alpha=float(sensor.gain[i]), beta=sensor.bias)
    h, w = img.shape[:2]
    oy, ox = rng.integers(0, 9, 2)
    cv2.add(img, sensor.noise_up[oy:oy + h, ox:ox + w], dst=img)
    cv2.subtract(img, sensor.noise_down[oy:oy + h, ox:ox + w], dst=img)
    return img
