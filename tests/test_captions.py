"""Per-frame captions of SynthDive (pevl/synth/captions.py): what a still shows, never the class."""

import re

import numpy as np
import pytest

from pevl.synth.captions import PHASES, SHAPES, frame_captions, frame_states
from pevl.synth.plan import make_plan
from pevl.synth.render import build_scene
from pevl.synth.vocab import TAKEOFFS, dive_classes

SIZE = (160, 120)
BOARD = re.compile(r"\bthe (1|3|5|7\.5|10) m (springboard|platform)\b")
COUNT_WORDS = re.compile(r"\b(somersaults?|twists?|turns?|half|one|two|three|four|double|triple|quadruple|"
                         r"once|twice|rotations?|dive \w+ position)\b")


@pytest.fixture(scope="module")
def rendering():
    """One clip of every class (render seed 1000, a pretraining seed): (class, scene) pairs."""
    classes = dive_classes()
    plans = make_plan(list(range(48)), 2, 1000)
    seen, out = set(), []
    for p in plans:
        if p.label not in seen:
            seen.add(p.label)
            out.append((classes[p.label], build_scene(classes[p.label], p.seed, SIZE, p.fps, p.venue_seed)))
    return out


def test_captions_never_name_the_class_a_count_or_the_takeoff(rendering):
    names = [c.name.lower() for c in dive_classes()]
    codes = {code.lower() for c in dive_classes() for code in (c.somersault, c.twist) if code != "Dive"}
    takeoffs = re.compile(r"\b(" + "|".join(t.lower() for t in TAKEOFFS) + r")\b")
    checked = 0
    for _, scene in rendering:
        for text in frame_captions(scene):
            low = text.lower()
            assert not any(name in low for name in names), text
            assert not any(code in low.split() for code in codes), text
            assert not takeoffs.search(low), text
            assert not COUNT_WORDS.search(low), text
            # the only numbers are the board height
            assert not re.search(r"\d", BOARD.sub("", low)), text
            checked += 1
    assert checked > 48 * 40


def test_phases_run_in_order_and_every_phase_appears(rendering):
    counts = dict.fromkeys(PHASES, 0)
    for _, scene in rendering:
        order = [PHASES.index(s.phase) for s in frame_states(scene)]
        assert order[0] == 0 and order == sorted(order), order
        for i in set(order):
            counts[PHASES[i]] += 1
    assert all(n >= 40 for n in counts.values()), counts  # nearly every clip shows every phase


def test_shape_twist_entry_and_venue_follow_the_renderer(rendering):
    for dive, scene in rendering:
        states = frame_states(scene)
        flight = [s for s in states if s.phase == "in flight"]
        shapes = {s.shape for s in flight}
        assert shapes <= {*SHAPES, None}
        if dive.position == "TUCK":
            assert "tucked" in shapes, dive.name
        if dive.position == "PIKE":
            assert "piked" in shapes, dive.name
        if dive.position in ("PIKE", "STR"):
            assert "tucked" not in shapes, dive.name
        twisting = any(s.twisting for s in flight)
        assert twisting == (dive.twist_turns > 0), dive.name
        entries = {s.orientation for s in states if s.phase == "entering the water"}
        assert entries <= {"head first", "feet first"}
        if dive.somersault_turns % 1 == 0.5:
            assert "head first" in entries, dive.name
        venue = "at an outdoor pool" if scene.panorama.outdoor else "in an indoor pool hall"
        assert {s.venue for s in states} == {venue}
        height = f"{scene.motion.board_height:g} m"
        assert all(height in text for text in frame_captions(scene))


def test_board_facing_and_framing(rendering):
    for dive, scene in rendering:
        states = frame_states(scene)
        board = {s.facing_board for s in states if s.phase == "on the board"}
        assert board == {"facing the water" if dive.takeoff in ("Forward", "Reverse") else "facing the board"}
    _, scene = rendering[0]
    w, h = SIZE
    pix_x = scene.pix[..., 0]
    away = float(pix_x.max()) + 10.0  # a crop entirely right of the diver
    assert all(s.framing == "out of frame" for s in frame_states(scene, (away, 0.0, h, h)))
    whole = frame_states(scene, (float(pix_x.min()) - 500.0, -500.0, 1000.0 + w, 1000.0 + h))
    assert {s.framing for s in whole} == {"the whole body in frame"}


def test_captions_are_deterministic(rendering):
    _, scene = rendering[3]
    assert frame_captions(scene) == frame_captions(scene)
    assert np.all([isinstance(t, str) and t.startswith("a diver ") for t in frame_captions(scene)])
