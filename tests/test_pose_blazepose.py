"""The blazepose backend on real people: MediaPipe's pretrained models from the pinned mediapipe wheel, on
sports2d's demo video (both fetched by `make test-assets`; see tests/real_footage.py).

The footage: 230 frames outdoors against the sun; a man stands on a roof, jumps off with a flip and walks
away while a woman walks past below. The frames are read at a 480 px short side, every frame, as a
decode stage with `decode.short_side=480` would store a 230-frame clip.
"""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pose_extraction import FrameContext, ModelNotFoundError, build_estimator
from pose_extraction.registry_files import BLAZEPOSE, fetch_files, models_folder, sha256_of, verified_folder
from real_footage import demo_frames
from schemas import PoseConfig

ROOT = Path(__file__).resolve().parent
SHORT_SIDE = 480
# COCO-17 indices
NOSE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_ANKLE, R_ANKLE = 0, 5, 6, 11, 12, 15, 16
PAIRS = ((5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))  # left/right joints


@pytest.fixture(scope="module")
def footage() -> tuple[np.ndarray, float]:
    """(T, H, W, 3) RGB frames of the demo video at SHORT_SIDE, and the scale from its full size."""
    frames = demo_frames(SHORT_SIDE)
    assert len(frames) == 230
    return frames, SHORT_SIDE / 994


@pytest.fixture(scope="module")
def estimator():
    return build_estimator(PoseConfig(backend="blazepose", blazepose={"download": False}), Path("/nonexistent"))


@pytest.fixture(scope="module")
def tracked(footage, estimator):
    """The main person's track over the whole clip, and every person found in each frame."""
    frames, _ = footage
    context = FrameContext("demo", "demo.mp4", Path("/nonexistent"), tuple(range(len(frames))), (1768, 994))
    track = estimator.estimate(frames, context)
    people, carried = [], []
    for frame in frames:
        found = estimator.detect.people(frame, carried)
        carried = [p.region for p in found]
        people.append(found)
    return track, people


@pytest.fixture(scope="module")
def reference(footage) -> list[dict]:
    """Hand-marked points (tests/data/sports2d_demo_reference.json), scaled to the stored frames."""
    _, scale = footage
    marked = json.loads((ROOT / "data" / "sports2d_demo_reference.json").read_text())["people"]
    return [{k: (np.array(v, float) * scale if isinstance(v, list) else v) for k, v in person.items()}
            for person in marked]


def test_the_models_are_the_pinned_files():
    folder = verified_folder(BLAZEPOSE, models_folder(BLAZEPOSE))
    for name, digest in zip(BLAZEPOSE.file_names(), BLAZEPOSE.files.values()):
        assert sha256_of(folder / name) == digest
    record = json.loads((folder / "digests.json").read_text())
    assert record["requirement"] == "mediapipe==0.10.21" and record["licence"].startswith("Apache-2.0")


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / BLAZEPOSE.wheel, "w") as fake:  # the right name, other bytes
        for member in BLAZEPOSE.files:
            fake.writestr(member, b"not a model")
    with pytest.raises(ModelNotFoundError, match="not the pinned"):
        fetch_files(BLAZEPOSE, root=tmp_path / "cache", wheel_dir=wheels)
    assert not (tmp_path / "cache" / "blazepose").exists()  # nothing half-written into the cache


def test_missing_or_altered_files_say_what_to_fetch(tmp_path):
    cfg = PoseConfig(backend="blazepose", blazepose={"model_dir": str(tmp_path), "download": False})
    with pytest.raises(ModelNotFoundError, match="pevl models fetch blazepose"):
        build_estimator(cfg, tmp_path)
    folder = verified_folder(BLAZEPOSE, models_folder(BLAZEPOSE))
    for name in BLAZEPOSE.file_names():
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    build_estimator(cfg, tmp_path)  # a folder with the pinned files works
    with open(tmp_path / BLAZEPOSE.file_names()[0], "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelNotFoundError, match="pose_detection.tflite"):
        build_estimator(cfg, tmp_path)


def test_the_main_person_is_found_in_most_frames(tracked):
    track, _ = tracked
    found = track.bboxes[:, 2] > 0
    assert found.mean() >= 0.8, f"main person found in {found.mean():.0%} of frames"
    assert track.keypoints.shape == (230, 17, 3) and track.keypoints.dtype == np.float32


def test_joints_fall_inside_the_body_region_the_model_aligns(tracked):
    """The 17 joints against the square the landmark model's own alignment points give (hips' midpoint and the
    body circle), a box that does not come from the joints themselves."""
    _, people = tracked
    inside, total = 0, 0
    for found in people:
        for person in found:
            x1, y1, x2, y2 = person.region.box
            sure = person.scores > 0.5
            xs, ys = person.joints[sure, 0], person.joints[sure, 1]
            inside += int(((xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)).sum())
            total += int(sure.sum())
    assert total > 1000 and inside / total >= 0.95, f"{inside} of {total} joints inside"


def test_plausible_anatomy_while_standing(tracked):
    """Frames 10-140: the man stands on the roof (arms up at times): head above shoulders above hips above ankles."""
    track, _ = tracked
    k = track.keypoints[10:141]
    seen = k[:, [NOSE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_ANKLE, R_ANKLE], 2].min(1) > 0.3
    assert seen.mean() >= 0.8
    y = k[seen, :, 1]
    shoulders, hips, ankles = y[:, [5, 6]].mean(1), y[:, [11, 12]].mean(1), y[:, [15, 16]].mean(1)
    ordered = (y[:, NOSE] < shoulders) & (shoulders < hips) & (hips < ankles)
    assert ordered.mean() >= 0.95, f"head-shoulders-hips-ankles in order in {ordered.mean():.0%} of frames"
    x = k[seen, :, 0]  # he faces the camera: his left side is on the image's right
    sides = (x[:, L_SHOULDER] > x[:, R_SHOULDER]) & (x[:, L_HIP] > x[:, R_HIP])
    assert sides.mean() >= 0.9, f"left joints on the image's right in {sides.mean():.0%} of frames"


def test_left_and_right_stay_consistent_across_frames(tracked):
    """Between consecutive frames a joint pair keeps its sides: swapping left and right never fits much better."""
    track, _ = tracked
    k = track.keypoints
    both = (k[1:, :, 2] > 0.5) & (k[:-1, :, 2] > 0.5)
    swaps, pairs = 0, 0
    for left, right in PAIRS:
        ok = both[:, left] & both[:, right]
        a, b = k[1:, :, :2][ok], k[:-1, :, :2][ok]
        same = np.linalg.norm(a[:, left] - b[:, left], axis=1) + np.linalg.norm(a[:, right] - b[:, right], axis=1)
        swapped = np.linalg.norm(a[:, left] - b[:, right], axis=1) + np.linalg.norm(a[:, right] - b[:, left], axis=1)
        gap = np.linalg.norm(a[:, left] - a[:, right], axis=1)
        swaps += int(((swapped < 0.5 * same) & (gap > 5)).sum())
        pairs += int(ok.sum())
    assert pairs > 500 and swaps / pairs <= 0.05, f"{swaps} swaps in {pairs} joint pairs"


def _points(person) -> dict[str, np.ndarray]:
    j = person.joints
    return {"nose": j[NOSE], "shoulders": j[[L_SHOULDER, R_SHOULDER]].mean(0), "hips": j[[L_HIP, R_HIP]].mean(0),
            "ankles": j[[L_ANKLE, R_ANKLE]]}


def test_joints_agree_with_the_marked_reference(tracked, reference):
    """Each marked person: the nose, shoulder and hip midpoints and the two ankles (either order) within half
    the marked torso (shoulders to hips) of the marks, three quarters within 0.2 (PCK@0.2 of the torso)."""
    _, people = tracked
    errors = []
    for ref in reference:
        found = people[ref["frame"]]
        assert found, f"nobody found in frame {ref['frame']}"
        person = min(found, key=lambda p: np.linalg.norm(_points(p)["hips"] - ref["hips"]))
        got, torso = _points(person), np.linalg.norm(ref["shoulders"] - ref["hips"])
        errors += [np.linalg.norm(got[name] - ref[name]) / torso for name in ("nose", "shoulders", "hips")]
        a, b = got["ankles"]
        errors.append(min(np.linalg.norm(a - ref["ankle_a"]) + np.linalg.norm(b - ref["ankle_b"]),
                          np.linalg.norm(a - ref["ankle_b"]) + np.linalg.norm(b - ref["ankle_a"])) / 2 / torso)
    errors = np.array(errors)
    assert (errors <= 0.5).all(), f"errors in torso lengths: {np.round(errors, 2)}"
    assert (errors <= 0.2).mean() >= 0.75, f"errors in torso lengths: {np.round(errors, 2)}"


def test_the_track_follows_one_person_through_the_clip(tracked, reference):
    """The main person is the man: at the marked frames the track is on him, never on the woman walking past,
    and between consecutive frames where it is found its hips never jump by more than half the frame height."""
    track, _ = tracked
    k = track.keypoints
    for ref in reference:
        t = ref["frame"]
        hips = k[t, [L_HIP, R_HIP], :2].mean(0)
        torso = np.linalg.norm(ref["shoulders"] - ref["hips"])
        near = np.linalg.norm(hips - ref["hips"]) <= 0.5 * torso
        assert near == (ref["who"] == "man"), f"frame {t}: the track's hips {hips.round()} vs the {ref['who']}'s"
    found = np.flatnonzero(track.bboxes[:, 2] > 0)
    hips = k[found][:, [L_HIP, R_HIP], :2].mean(1)
    steps = np.linalg.norm(np.diff(hips, axis=0), axis=1)
    assert steps.max() <= 0.5 * SHORT_SIDE, f"largest step {steps.max():.0f} px"


def test_the_synthdive_models_warn_outside_synthdive():
    from pose_extraction.build import domain_warning

    demo = PoseConfig(backend="rtmlib", rtmlib={"det_model": "builtin:pose/synthdive_det.onnx",
                                                "pose_model": "builtin:pose/synthdive_pose.onnx", "download": False})
    warning = domain_warning(demo, "haa500")
    assert warning and "SynthDive" in warning and "poses.backend=blazepose" in warning and "'haa500'" in warning
    assert "these videos" in domain_warning(demo, "")
    assert domain_warning(demo, "synthdive") is None
    assert domain_warning(PoseConfig(backend="blazepose"), "haa500") is None


def test_pevl_models_fetch_and_list(tmp_path, monkeypatch, capsys):
    from pevl.cli import main

    folder = verified_folder(BLAZEPOSE, models_folder(BLAZEPOSE))  # the fetched files, before the cache moves
    monkeypatch.setenv("PEVL_MODEL_CACHE", str(tmp_path / "cache"))
    assert main(["models", "list"]) == 0
    assert "not fetched (pevl models fetch blazepose)" in capsys.readouterr().out
    assert main(["models", "fetch", "nosuch"]) == 2
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / BLAZEPOSE.wheel).write_bytes(b"not a wheel")
    assert main(["models", "fetch", "blazepose", "--wheel-dir", str(wheels)]) == 2
    good = tmp_path / "good"
    good.mkdir()
    with zipfile.ZipFile(good / BLAZEPOSE.wheel, "w") as wheel:  # the pinned files, in a wheel of other bytes
        for member, name in zip(BLAZEPOSE.files, BLAZEPOSE.file_names()):
            wheel.writestr(member, (folder / name).read_bytes())
    assert main(["models", "fetch", "blazepose", "--wheel-dir", str(good)]) == 2  # the wheel's own sha256 differs
    assert not (tmp_path / "cache" / "blazepose").exists()
