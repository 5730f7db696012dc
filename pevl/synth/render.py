"""One SynthDive clip: the dive, the camera, the venue; its frames and its ground-truth keypoints."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pevl.synth.camera import CameraPath, panorama_affines, project, sample_camera
from pevl.synth.diver import DiverTrack, Look, draw_diver, sample_look, track_diver
from pevl.synth.effects import (
    Sensor,
    Splash,
    SplashTrack,
    degrade,
    draw_splash,
    sample_sensor,
    sample_splash,
    submerge,
    track_splash,
)
from pevl.synth.motion import BOARD_HEIGHTS, BOARD_ODDS, Motion, build_motion
from pevl.synth.scene import Panorama, render_panorama
from pevl.synth.skeleton import Body, sample_body
from pevl.synth.vocab import DiveClass


@dataclass(frozen=True)
class DiveScene:
    """Everything needed to render one clip, all drawn from its seeds.

    Attributes:
        pix: (T, 17, 2) joint pixels; depth: (T, 17) joint depth toward the camera.
        diver, splash_track: per-frame drawing data of the diver and the splash.
    """

    dive: DiveClass
    seed: tuple[int, ...]
    size: tuple[int, int]
    fps: int
    body: Body
    look: Look
    motion: Motion
    camera: CameraPath
    panorama: Panorama
    splash: Splash
    sensor: Sensor
    pix: np.ndarray
    depth: np.ndarray
    diver: DiverTrack
    splash_track: SplashTrack

    @property
    def num_frames(self) -> int:
        """Frames in the clip."""
        return len(self.motion.times)


def _extent(cam: CameraPath) -> tuple[float, float, float, float]:
    """World (x0, x1, y0, y1) every frame can see, whatever its roll."""
    reach = 0.5 * np.hypot(*cam.size) / cam.scale + 0.5
    return (float((cam.center[:, 0] - reach).min()), float((cam.center[:, 0] + reach).max()),
            float((cam.center[:, 1] - reach).min()), float((cam.center[:, 1] + reach).max()))


def build_scene(dive: DiveClass, seed: Sequence[int], size: tuple[int, int], fps: int,
                venue_seed: Sequence[int] | None = None) -> DiveScene:
    """Draw body, colours, motion, camera, venue, splash and sensor of one clip.

    Args:
        seed: the clip's seed words; the same seed gives the same scene.
        size: (width, height) of the frames.
        venue_seed: clips cut from one source video share it: same venue and board height.
    """
    rng = np.random.default_rng(list(seed))
    venue_rng = np.random.default_rng(list(venue_seed) if venue_seed is not None else [*seed, 1])
    height = float(venue_rng.choice(BOARD_HEIGHTS, p=BOARD_ODDS))
    body = sample_body(rng)
    look = sample_look(rng)
    motion = build_motion(dive, body, rng, fps, height)
    camera = sample_camera(motion.joints[:, 11:13].mean(axis=1), motion.times, rng, size)
    pix, depth = project(camera, motion.joints)
    panorama = render_panorama(venue_rng, motion.board_height, _extent(camera), float(camera.scale.max()))
    splash = sample_splash(rng, motion.entry_time, motion.entry_x)
    sensor = sample_sensor(rng, size, motion.times)
    return DiveScene(dive, tuple(seed), size, fps, body, look, motion, camera, panorama, splash, sensor, pix, depth,
                     track_diver(pix, depth, camera.scale, body), track_splash(splash, camera, motion.times))


def keypoints(scene: DiveScene) -> np.ndarray:
    """(T, 17, 3) float32 ground truth: x, y in frame pixels, visibility 1 or 0.

    A joint is invisible when it is under the water surface or outside the frame; its x, y are
    kept anyway (they may lie outside the frame).
    """
    w, h = scene.size
    x, y = scene.pix[..., 0], scene.pix[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    visible = inside & (scene.motion.joints[..., 1] >= 0.0)
    return np.concatenate([scene.pix, visible[..., None]], axis=-1).astype(np.float32)


def _box(pix: np.ndarray, size: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    """Pixel box around (17, 2) joints, grown by margin and clipped to the frame."""
    lo, hi = np.floor(pix.min(axis=0)) - margin, np.ceil(pix.max(axis=0)) + margin
    return (int(max(lo[0], 0)), int(max(lo[1], 0)), int(min(hi[0], size[0])), int(min(hi[1], size[1])))


def iter_frames(scene: DiveScene, draw_body: bool = True) -> Iterator[np.ndarray]:
    """Yield the clip's (H, W, 3) uint8 BGR frames.

    Args:
        draw_body: False renders the same frames without the diver (same venue, camera, splash
            and noise), which tests use to check that joints lie on the drawn body.
    """
    cam, pano = scene.camera, scene.panorama
    noise_rng = np.random.default_rng([*scene.seed, 2])
    margin = int(np.ceil(0.4 * cam.scale.max()))
    affines = panorama_affines(cam, pano.origin, pano.scale)
    wet = scene.motion.joints[:, :, 1].min(axis=1) < 0.3
    for i in range(scene.num_frames):
        warped = cv2.warpAffine(pano.image, affines[i], scene.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        background = cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR)
        frame = background.copy() if draw_body else background
        if draw_body:
            draw_diver(frame, scene.diver, i, scene.look)
            if wet[i]:
                submerge(frame, background, warped[..., 3], _box(scene.pix[i], scene.size, margin))
        draw_splash(frame, scene.splash_track, scene.splash.shade, i)
        yield degrade(frame, scene.sensor, i, noise_rng)
