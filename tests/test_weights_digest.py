"""Stage hashes follow the contents of local weight files, not only their paths."""

from pathlib import Path

from pevl import paths
from pevl.weights_digest import builtin_dir, resolve_builtin, weights_digest
from schemas import load_config

ROOT = Path(__file__).resolve().parents[1]


def _cfg(tmp_path: Path, *overrides: str):
    return load_config(ROOT / "configs" / "demo.yaml", [f"work_dir={tmp_path}/work", *overrides])


def test_builtin_resolves_to_the_shipped_files():
    assert Path(resolve_builtin("builtin:clip/synthclip-tiny.pt")).is_file()
    assert Path(resolve_builtin("builtin:pose/synthdive_det.onnx")).is_file()
    assert resolve_builtin("openai") == "openai"
    assert builtin_dir() == ROOT / "pevl" / "assets" / "models"


def test_replacing_the_backbone_weights_moves_the_training_run(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"first")
    cfg = _cfg(tmp_path, f"model.pretrained={weights}")
    before, shards = paths.train_hash(cfg), paths.shards_hash(cfg)
    assert paths.train_hash(cfg) == before  # stable while the file is unchanged
    weights.write_bytes(b"second")  # same path, new contents
    assert paths.train_hash(cfg) != before
    assert paths.shards_hash(cfg) == shards  # the data stages do not depend on the backbone
    assert weights_digest("openai") is None and weights_digest(None) is None


def test_replacing_a_pose_model_moves_poses_and_later_stages(tmp_path):
    det, pose = tmp_path / "det.onnx", tmp_path / "pose.onnx"
    det.write_bytes(b"det-1")
    pose.write_bytes(b"pose-1")
    cfg = _cfg(tmp_path, "poses.backend=rtmlib", f"poses.rtmlib.det_model={det}", f"poses.rtmlib.pose_model={pose}")
    decode, poses, train = paths.decode_hash(cfg), paths.poses_hash(cfg), paths.train_hash(cfg)
    pose.write_bytes(b"pose-two")  # (another size: the digest cache keys on size, mtime and inode)
    assert paths.decode_hash(cfg) == decode
    assert paths.poses_hash(cfg) != poses and paths.train_hash(cfg) != train


def test_a_folder_digest_covers_every_file(tmp_path):
    folder = tmp_path / "weights"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a")
    (folder / "sub" / "b.bin").write_bytes(b"b")
    first = weights_digest(str(folder))
    (folder / "sub" / "b.bin").write_bytes(b"B")
    assert weights_digest(str(folder)) != first
    assert weights_digest(f"local-dir:{folder}") == weights_digest(str(folder))
