"""The venue behind the diver, drawn once per clip as a panorama in world coordinates.

Indoor hall or open air, spectator stands, banners and flags, the board or platform the dive starts
from (with other platforms beside it), the pool deck with bystanders, and the water. Colours are BGR.
"""

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Panorama:
    """A venue image and where it sits in the world.

    Attributes:
        image: (Hp, Wp, 4) uint8 BGR plus the water mask as the fourth channel (255 where the pool
            water is), so that one warp moves both (a 4-channel warp is also faster than 3).
        origin: world (x, y) of the top-left pixel.
        scale: pixels per metre.
        outdoor: an open-air pool (sky) rather than an indoor hall (captions read it).
    """

    image: np.ndarray
    origin: tuple[float, float]
    scale: float
    outdoor: bool = False


# World x range every venue is laid out over, whatever part a clip's camera sees: layout draws
# the same random numbers for every clip of a source video, so they share one venue.
VENUE_X = (-25.0, 25.0)


class _Canvas:
    """World-to-pixel helpers over one panorama image."""

    def __init__(self, extent: tuple[float, float, float, float], scale: float):
        self.x0, self.x1, self.y0, self.y1 = extent
        self.s = scale
        w, h = int(np.ceil((self.x1 - self.x0) * scale)), int(np.ceil((self.y1 - self.y0) * scale))
        self.img = np.zeros((h, w, 3), np.uint8)

    def px(self, x: float, y: float) -> tuple[int, int]:
        """World point -> integer pixel."""
        return int(round((x - self.x0) * self.s)), int(round((self.y1 - y) * self.s))

    def rect(self, x0: float, y0: float, x1: float, y1: float, color) -> None:
        """Fill the world rectangle [x0, x1] x [y0, y1]."""
        cv2.rectangle(self.img, self.px(x0, y1), self.px(x1, y0), _c(color), -1)

    def m(self, metres: float) -> int:
        """A length in pixels, at least 1."""
        return max(1, int(round(metres * self.s)))

    def sees(self, x: float, margin: float = 1.0) -> bool:
        """Whether world x is within the panorama (plus margin)."""
        return self.x0 - margin <= x <= self.x1 + margin

    def rows(self, y_top: float, y_bottom: float) -> np.ndarray:
        """(H, 1) position of each pixel row between world heights y_top (0) and y_bottom (1), clipped."""
        y = self.y1 - (np.arange(self.img.shape[0]) + 0.5) / self.s
        return np.clip((y_top - y) / (y_top - y_bottom), 0.0, 1.0)[:, None]


def _c(color) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(color, 0, 255))


def _jitter(rng: np.random.Generator, base, spread: float = 25.0) -> np.ndarray:
    return np.clip(np.asarray(base, float) + rng.normal(0, spread, 3), 0, 255)


def _backdrop(cv: _Canvas, rng: np.random.Generator) -> bool:
    """Sky with clouds, or a hall wall with windows and ceiling lights; True for the sky."""
    rows = cv.rows(25.0, 0.0)
    if rng.random() < 0.4:
        top, bottom = _jitter(rng, (200, 130, 60), 20), _jitter(rng, (240, 215, 190), 15)
        cv.img[:] = (top * (1 - rows) + bottom * rows).astype(np.uint8)[:, None, :]
        for _ in range(int(rng.integers(4, 12))):
            x, y = rng.uniform(*VENUE_X), rng.uniform(8, 25)
            cv2.ellipse(cv.img, cv.px(x, y), (cv.m(rng.uniform(1, 3)), cv.m(rng.uniform(0.3, 0.8))), 0, 0, 360,
                        _c(_jitter(rng, (245, 245, 245), 8)), -1)
        return True
    wall = _jitter(rng, rng.choice([(150, 160, 170), (120, 140, 160), (90, 100, 110), (170, 150, 130)]), 20)
    cv.img[:] = (wall * (0.65 + 0.35 * rows)).astype(np.uint8)[:, None, :]
    glass = _jitter(rng, (235, 225, 205), 15)
    step = rng.uniform(2.0, 4.0)
    for x in np.arange(VENUE_X[0] + rng.uniform(0, step), VENUE_X[1], step):
        cv.rect(x, 9.0, x + 0.6 * step, 13.0, glass)
    for x in np.arange(VENUE_X[0], VENUE_X[1], rng.uniform(3, 6)):
        cv.rect(x, 18.0, x + 1.2, 18.2, (250, 250, 250))
    return False


def _stands(cv: _Canvas, rng: np.random.Generator) -> None:
    """Rows of spectators behind the pool (heads and shirts in many colours)."""
    if rng.random() < 0.25:
        return
    base = rng.uniform(0.6, 1.2)
    rows = int(rng.integers(3, 9))
    cv.rect(VENUE_X[0], base - 0.2, VENUE_X[1], base + rows * 0.55, _jitter(rng, (90, 90, 100), 20))
    for r in range(rows):
        y = base + r * 0.55
        seats = np.arange(VENUE_X[0] + rng.uniform(0, 0.4), VENUE_X[1], 0.42)
        empty, dx = rng.random(len(seats)) < 0.3, rng.normal(0, 0.05, len(seats))
        shirts, skins = rng.uniform(30, 230, (len(seats), 3)), rng.normal(0, 35, (len(seats), 3))
        for x, skip, shirt, skin in zip(seats + dx, empty, shirts, skins):
            if skip or not cv.sees(x):
                continue
            cv.rect(x - 0.13, y, x + 0.13, y + 0.3, shirt)
            cv2.circle(cv.img, cv.px(x, y + 0.4), cv.m(0.1), _c(np.array((120, 150, 190)) + skin), -1)


def _banners(cv: _Canvas, rng: np.random.Generator, top: float) -> None:
    """Advertising boards along the stands and a line of flags high up."""
    y = rng.uniform(0.15, 0.5)
    for x in np.arange(*VENUE_X, rng.uniform(2.5, 4.5)):
        cv.rect(x, y, x + rng.uniform(1.8, 2.4), y + 0.45, rng.uniform(0, 255, 3))
        cv.rect(x + 0.3, y + 0.15, x + 1.2, y + 0.3, rng.uniform(0, 255, 3))
    fy = top + rng.uniform(1.5, 4.0)
    cv2.line(cv.img, cv.px(VENUE_X[0], fy), cv.px(VENUE_X[1], fy), (60, 60, 60), 1)
    for x in np.arange(*VENUE_X, rng.uniform(0.6, 1.2)):
        tri = np.array([cv.px(x, fy), cv.px(x + 0.45, fy), cv.px(x + 0.22, fy - 0.6)], np.int32)
        cv2.fillPoly(cv.img, [tri], _c(rng.uniform(20, 255, 3)))


def _tower(cv: _Canvas, rng: np.random.Generator, height: float) -> None:
    """The board or platform at `height` ending at x = 0, and other platforms further back."""
    concrete = _jitter(rng, (175, 180, 185), 20)
    for h in rng.choice([1.0, 3.0, 5.0, 7.5], size=int(rng.integers(0, 3)), replace=False):
        if abs(h - height) < 0.5:
            continue
        x = rng.uniform(-9.0, -5.5)
        cv.rect(x - 3.0, h - 0.25, x, h, concrete * 0.8)
        cv.rect(x - 3.0, 0.15, x - 2.0, h - 0.25, concrete * 0.7)
    if height <= 3.0:  # springboard on a stand with a fulcrum
        cv.rect(-4.9, 0.15, -3.9, height - 0.3, concrete)
        cv.rect(-4.9, height - 0.09, 0.05, height, _jitter(rng, (235, 240, 240), 10))
        cv.rect(-4.9, height - 0.11, 0.05, height - 0.09, _jitter(rng, (60, 110, 200), 40))
        f = rng.uniform(-2.6, -1.9)
        tri = np.array([cv.px(f - 0.35, height - 0.45), cv.px(f + 0.35, height - 0.45), cv.px(f, height - 0.1)], np.int32)
        cv2.fillPoly(cv.img, [tri], _c(_jitter(rng, (40, 180, 220), 30)))
        cv.rect(f - 0.1, 0.15, f + 0.1, height - 0.45, concrete * 0.9)
        return
    cv.rect(-5.5, 0.15, -3.0, height - 0.3, concrete * 0.9)
    cv.rect(-5.5, height - 0.3, 0.0, height, concrete)
    cv.rect(-5.5, height - 0.05, 0.0, height, _jitter(rng, (200, 120, 40), 40))
    for y in np.arange(0.5, height - 0.3, 0.4):
        cv.rect(-5.7, y, -5.5, y + 0.05, concrete * 0.6)


def _pool(cv: _Canvas, rng: np.random.Generator, edge: float) -> np.ndarray:
    """Deck left of `edge`, water right of it below y = 0 with lane ropes; returns the water mask."""
    cv.rect(VENUE_X[0], cv.y0, edge, 0.15, _jitter(rng, (200, 205, 210), 20))
    cv.rect(VENUE_X[0], 0.1, edge, 0.15, _jitter(rng, (120, 120, 120), 20))
    u0, v0 = cv.px(edge, 0.0)
    u0, v0 = max(u0, 0), max(v0, 0)
    h = cv.img.shape[0] - v0
    if h > 0 and u0 < cv.img.shape[1]:
        top, deep = _jitter(rng, (215, 175, 90), 25), _jitter(rng, (150, 90, 20), 20)
        rows = cv.rows(0.0, -5.0)[v0:] ** 0.5
        cv.img[v0:, u0:] = (top * (1 - rows) + deep * rows).astype(np.uint8)[:, None, :]
        cv.rect(edge, -0.12, VENUE_X[1], 0.0, _jitter(rng, (235, 215, 170), 15))
    for y in (-0.06, -0.25, -0.5):
        a, b = _jitter(rng, (30, 30, 220), 30), _jitter(rng, (230, 230, 230), 10)
        for i, x in enumerate(np.arange(edge, VENUE_X[1], 0.3)):
            cv.rect(x, y - 0.03, x + 0.3, y + 0.03, a if i % 2 else b)
    water = np.zeros(cv.img.shape[:2], np.uint8)
    water[v0:, u0:] = 255
    return water


def _bystander(cv: _Canvas, rng: np.random.Generator, x: float, y: float) -> None:
    """A coach, judge or waiting diver standing on the deck (a person, but not the diver)."""
    h = rng.uniform(1.55, 1.9)
    skin, shirt, legs = _jitter(rng, (110, 150, 200), 40), rng.uniform(0, 255, 3), rng.uniform(0, 200, 3)
    hip, neck = y + 0.5 * h, y + 0.82 * h
    for dx in (-0.08, 0.08):
        cv2.line(cv.img, cv.px(x + dx, hip), cv.px(x + 1.5 * dx, y), _c(legs), cv.m(0.12))
    cv.rect(x - 0.17, hip, x + 0.17, neck, shirt)
    for dx in (-0.2, 0.2):
        cv2.line(cv.img, cv.px(x + dx, neck - 0.03), cv.px(x + 1.3 * dx, hip - 0.05), _c(skin), cv.m(0.07))
    cv2.circle(cv.img, cv.px(x, neck + 0.12), cv.m(0.11), _c(skin), -1)


def render_panorama(rng: np.random.Generator, height: float, extent: tuple[float, float, float, float],
                    scale: float) -> Panorama:
    """Draw one venue.

    Args:
        height: top of the board or platform the dive starts from, metres.
        extent: world (x0, x1, y0, y1) the panorama covers.
        scale: pixels per metre.
    """
    cv = _Canvas(extent, scale)
    outdoor = _backdrop(cv, rng)
    _stands(cv, rng)
    _banners(cv, rng, height)
    edge = -rng.uniform(1.5, 3.0)
    water = _pool(cv, rng, edge)
    _tower(cv, rng, height)
    for _ in range(int(rng.integers(0, 3))):
        _bystander(cv, rng, rng.uniform(edge - 8.0, edge - 0.6), 0.15)
    return Panorama(np.dstack([cv.img, water]), (cv.x0, cv.y1), scale, outdoor)
