"""SynthDive: the real Diving48 vocab and layout, determinism, motion that follows the attributes,
joints that lie on the drawn diver, the CLI, the preview and ensure_synthdive's reuse."""

import argparse
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from pevl import cli
from pevl.commands import synth as synth_command
from pevl.synth import ensure_synthdive, generate_synthdive
from pevl.synth.motion import build_motion
from pevl.synth.plan import make_plan
from pevl.synth.render import build_scene, iter_frames, keypoints
from pevl.synth.skeleton import sample_body
from pevl.synth.vocab import dive_classes, load_vocab
from schemas import DatasetConfig, SynthConfig

# Diving48_vocab.json as published with the dataset (label order).
DIVING48_VOCAB = [
    ["Back", "15som", "05Twis", "FREE"], ["Back", "15som", "15Twis", "FREE"], ["Back", "15som", "25Twis", "FREE"],
    ["Back", "15som", "NoTwis", "PIKE"], ["Back", "15som", "NoTwis", "TUCK"], ["Back", "25som", "15Twis", "PIKE"],
    ["Back", "25som", "25Twis", "PIKE"], ["Back", "25som", "NoTwis", "PIKE"], ["Back", "25som", "NoTwis", "TUCK"],
    ["Back", "2som", "15Twis", "FREE"], ["Back", "2som", "25Twis", "FREE"], ["Back", "35som", "NoTwis", "PIKE"],
    ["Back", "35som", "NoTwis", "TUCK"], ["Back", "3som", "NoTwis", "PIKE"], ["Back", "3som", "NoTwis", "TUCK"],
    ["Back", "Dive", "NoTwis", "PIKE"], ["Back", "Dive", "NoTwis", "TUCK"], ["Forward", "15som", "1Twis", "FREE"],
    ["Forward", "15som", "2Twis", "FREE"], ["Forward", "15som", "NoTwis", "PIKE"], ["Forward", "1som", "NoTwis", "PIKE"],
    ["Forward", "25som", "1Twis", "PIKE"], ["Forward", "25som", "2Twis", "PIKE"], ["Forward", "25som", "3Twis", "PIKE"],
    ["Forward", "25som", "NoTwis", "PIKE"], ["Forward", "25som", "NoTwis", "TUCK"], ["Forward", "35som", "NoTwis", "PIKE"],
    ["Forward", "35som", "NoTwis", "TUCK"], ["Forward", "45som", "NoTwis", "TUCK"], ["Forward", "Dive", "NoTwis", "PIKE"],
    ["Forward", "Dive", "NoTwis", "STR"], ["Inward", "15som", "NoTwis", "PIKE"], ["Inward", "15som", "NoTwis", "TUCK"],
    ["Inward", "25som", "NoTwis", "PIKE"], ["Inward", "25som", "NoTwis", "TUCK"], ["Inward", "35som", "NoTwis", "TUCK"],
    ["Inward", "Dive", "NoTwis", "PIKE"], ["Reverse", "15som", "05Twis", "FREE"], ["Reverse", "15som", "15Twis", "FREE"],
    ["Reverse", "15som", "25Twis", "FREE"], ["Reverse", "15som", "35Twis", "FREE"], ["Reverse", "15som", "NoTwis", "PIKE"],
    ["Reverse", "25som", "15Twis", "PIKE"], ["Reverse", "25som", "NoTwis", "PIKE"], ["Reverse", "25som", "NoTwis", "TUCK"],
    ["Reverse", "35som", "NoTwis", "TUCK"], ["Reverse", "Dive", "NoTwis", "PIKE"], ["Reverse", "Dive", "NoTwis", "TUCK"],
]
ID_FORM = re.compile(r"[A-Za-z0-9_-]{11}_\d{5}")
SUBSET = [0, 20, 30, 34]  # Back twister, Forward 1som pike, Forward swan dive, Inward tuck


def _run_cli(argv: list[str]) -> int:
    """Parse argv with the synth command's own parser (other commands may not exist yet) and run it."""
    parser = argparse.ArgumentParser()
    synth_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["synth", *argv])
    return args.func(args)


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The full 48-class SynthDive, 2 clips per class at 96x72, written through the CLI."""
    out = tmp_path_factory.mktemp("synthdive")
    assert _run_cli(["--out", str(out), "--clips-per-class", "2", "--seed", "7", "--size", "96x72", "--workers", "2"]) == 0
    return out


def _records(root: Path) -> dict[str, list[dict]]:
    return {s: json.loads((root / f"Diving48_V2_{s}.json").read_text()) for s in ("train", "test")}


def test_vocab_is_diving48s(dataset):
    assert json.loads((dataset / "Diving48_vocab.json").read_text()) == DIVING48_VOCAB
    assert [list(v) for v in load_vocab()] == DIVING48_VOCAB
    assert dive_classes()[29].name == "Forward_Dive_NoTwis_PIKE"


def test_layout_splits_and_ids(dataset):
    assert "synth" in cli.COMMANDS
    records = _records(dataset)
    for split, rows in records.items():
        assert sorted({r["label"] for r in rows}) == list(range(48)), f"a class is missing from {split}"
        assert all(set(r) == {"vid_name", "label", "start_frame", "end_frame"} for r in rows)
    rows = records["train"] + records["test"]
    ids = [r["vid_name"] for r in rows]
    assert len(ids) == 96 and len(set(ids)) == 96
    assert all(ID_FORM.fullmatch(i) for i in ids), [i for i in ids if not ID_FORM.fullmatch(i)]
    assert {i[0] for i in ids} & {"-"} and {i[0] for i in ids} & {"_"}
    assert sorted(p.stem for p in (dataset / "rgb").glob("*.mp4")) == sorted(ids)
    assert sorted(p.stem for p in (dataset / "keypoints").glob("*.npy")) == sorted(ids)
    assert not list((dataset / "rgb").glob(".*")), "temporary video files left behind"


def test_videos_agree_with_annotations_and_keypoints(dataset):
    rows = _records(dataset)["train"] + _records(dataset)["test"]
    fps_seen, sub_ranges, seconds = set(), 0, []
    for k, r in enumerate(rows):
        kp = np.load(dataset / "keypoints" / f"{r['vid_name']}.npy", allow_pickle=False)
        cap = cv2.VideoCapture(str(dataset / "rgb" / f"{r['vid_name']}.mp4"))
        fps, count = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (96, 72)
        if k < 12:  # decode a few completely: the container's count is the real one
            count = len(_frames(dataset / "rgb" / f"{r['vid_name']}.mp4"))
        assert kp.dtype == np.float32 and kp.shape == (count, 17, 3)
        assert set(np.unique(kp[..., 2])) <= {0.0, 1.0}
        assert 0 <= r["start_frame"] < r["end_frame"] <= count
        sub_ranges += r["start_frame"] > 0 or r["end_frame"] < count
        assert round(fps) in (25, 30, 60)
        fps_seen.add(round(fps))
        seconds.append(count / fps)
    assert len(fps_seen) >= 2
    assert sub_ranges >= 5, "some annotations should cover a sub-range of their video"
    assert 1.5 <= min(seconds) and max(seconds) <= 6.0 and max(seconds) - min(seconds) > 1.5


def test_deterministic_per_seed(tmp_path):
    def make(name: str, seed: int, workers: int) -> Path:
        generate_synthdive(tmp_path / name, 2, seed, (64, 48), workers=workers, classes=SUBSET)
        return tmp_path / name

    a, b, c = make("a", 3, 1), make("b", 3, 2), make("c", 4, 1)
    assert _records(a) == _records(b)
    assert _records(a) != _records(c)
    for r in _records(a)["train"] + _records(a)["test"]:
        name = r["vid_name"]
        np.testing.assert_array_equal(np.load(a / "keypoints" / f"{name}.npy"), np.load(b / "keypoints" / f"{name}.npy"))
        assert (a / "rgb" / f"{name}.mp4").read_bytes() == (b / "rgb" / f"{name}.mp4").read_bytes()
    other = [np.load(p) for p in sorted((c / "keypoints").glob("*.npy"))]
    mine = [np.load(p) for p in sorted((a / "keypoints").glob("*.npy"))]
    assert not any(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(mine, other))


def _flight(dive, seed: int = 0):
    rng = np.random.default_rng(seed)
    motion = build_motion(dive, sample_body(rng), rng, 60, 3.0)
    return motion, motion.joints[motion.takeoff_frame:motion.entry_frame + 1]


@pytest.mark.parametrize("dive", dive_classes(), ids=lambda d: d.name)
def test_motion_follows_the_attributes(dive):
    motion, flight = _flight(dive)
    # Somersaults: the hip->shoulder axis turns somersault_turns times about the lateral axis,
    # away from the board (clockwise, seen from the camera) for Forward/Back, toward it otherwise.
    axis = flight[:, 5:7].mean(axis=1) - flight[:, 11:13].mean(axis=1)
    angle = np.unwrap(np.arctan2(axis[:, 1], axis[:, 0]))
    turned = (angle[-1] - angle[0]) / (2 * np.pi)
    sign = -1 if dive.takeoff in ("Forward", "Back") else 1
    assert turned * sign == pytest.approx(dive.somersault_turns, abs=0.08)
    # Twists: the shoulder line's lateral component changes sign once per half twist
    # (somersaulting about the lateral axis leaves that component alone).
    lateral = flight[:, 6, 2] - flight[:, 5, 2]
    assert np.count_nonzero(np.diff(np.sign(lateral)) != 0) == round(2 * dive.twist_turns)
    # Takeoff: Forward/Reverse face the water (+x) on the board, Back/Inward face the board.
    board = motion.joints[motion.takeoff_frame - 1]
    facing = board[0, 0] - board[3:5, 0].mean()
    assert facing > 0 if dive.takeoff in ("Forward", "Reverse") else facing < 0
    # Position: hip and knee flexion at the most closed moment of the flight.
    hip_knee_ankle = np.linalg.norm(flight[:, 15] - flight[:, 11], axis=1) / np.linalg.norm(flight[0, 15] - flight[0, 11])
    shoulder_knee = np.linalg.norm(flight[:, 13] - flight[:, 5], axis=1).min() / np.linalg.norm(flight[0, 13] - flight[0, 5])
    if dive.position == "TUCK":  # knees bent and drawn to the chest
        assert hip_knee_ankle.min() < 0.6 and shoulder_knee < 0.6
    elif dive.position == "PIKE":  # straight knees, legs folded to the chest
        assert hip_knee_ankle.min() > 0.9 and shoulder_knee < 0.6
    elif dive.position == "STR":
        assert hip_knee_ankle.min() > 0.9 and shoulder_knee > 0.95
    else:  # FREE: straight knees, a brief half pike
        assert hip_knee_ankle.min() > 0.8 and 0.7 < shoulder_knee < 0.95


def test_joints_lie_on_the_drawn_diver(tmp_path):
    size, labels = (160, 120), [3, 18, 30, 44]
    generate_synthdive(tmp_path, 2, 11, size, workers=1, classes=labels)
    checked = differ = 0
    for plan in make_plan(labels, 2, 11):
        kp = np.load(tmp_path / "keypoints" / f"{plan.vid_name}.npy")
        video = _frames(tmp_path / "rgb" / f"{plan.vid_name}.mp4")
        scene = build_scene(dive_classes()[plan.label], plan.seed, size, plan.fps, plan.venue_seed)
        assert np.array_equal(scene.pix.astype(np.float32), kp[..., :2])
        for i, empty in enumerate(iter_frames(scene, draw_body=False)):
            if i % 3:
                continue
            for x, y, v in kp[i]:
                if v == 0:
                    continue
                assert 0 <= x <= size[0] - 1 and 0 <= y <= size[1] - 1
                c, r = int(round(x)), int(round(y))
                diff = np.abs(video[i][r, c].astype(int) - empty[r, c].astype(int)).max()
                checked += 1
                differ += diff > 20
    assert checked > 500
    assert differ / checked > 0.85, f"only {differ}/{checked} visible joints differ from the empty scene"


def test_underwater_joints_are_invisible():
    scene = build_scene(dive_classes()[7], (1, 2), (96, 72), 30)
    kp = keypoints(scene)
    below = scene.motion.joints[..., 1] < 0
    assert below.any() and not kp[..., 2][below].any()
    assert kp[-1, :, 2].sum() == 0, "the last frame is underwater"


def test_preview_png(tmp_path):
    out = tmp_path / "sheet.png"
    assert _run_cli(["--preview", str(out), "--attributes", "takeoff,position"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet.shape[0] == 8 * 112  # the 25som/NoTwis group: 4 takeoffs x pike/tuck, 112 px rows
    rows = sheet.reshape(8, 112, *sheet.shape[1:])[:, :, 110:].astype(int)
    changed = [(np.abs(rows[k] - rows[k + 1]).max(axis=-1) > 40).mean() for k in range(7)]
    assert min(changed) > 0.01, changed


def test_ensure_synthdive_reuses_and_regenerates(tmp_path):
    synth = SynthConfig(clips_per_class=2, width=64, height=48, workers=1, classes=[5, 40])
    cfg = DatasetConfig(root=str(tmp_path / "sd"), synth=synth)
    root = ensure_synthdive(cfg)
    stamp = (root / "Diving48_V2_train.json").stat().st_mtime_ns
    assert ensure_synthdive(cfg) == root
    assert (root / "Diving48_V2_train.json").stat().st_mtime_ns == stamp, "an identical request must reuse"
    before = _records(root)
    reseeded = cfg.model_copy(update={"synth": cfg.synth.model_copy(update={"seed": 1})})
    ensure_synthdive(reseeded)
    assert _records(root) != before
    assert len(list((root / "rgb").glob("*.mp4"))) == 4
    (root / "notes.txt").write_text("not SynthDive")
    with pytest.raises(RuntimeError, match="refusing"):
        ensure_synthdive(cfg)


def test_bad_parameters_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="clips_per_class"):
        generate_synthdive(tmp_path, 1, 0, (64, 48))
    with pytest.raises(ValueError, match="even"):
        generate_synthdive(tmp_path, 2, 0, (65, 48))
    with pytest.raises(ValueError, match="classes"):
        generate_synthdive(tmp_path, 2, 0, (64, 48), classes=[48])
    assert not list(tmp_path.iterdir()), "nothing is written before the parameters are checked"
    with pytest.raises(ValueError):
        SynthConfig(clips_per_class=1)
    with pytest.raises(SystemExit):
        _run_cli(["--out", str(tmp_path), "--size", "64by48"])
