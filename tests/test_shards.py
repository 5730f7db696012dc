"""Shard writer determinism and rotation, the readers, and `pevl shards verify` naming each defect."""

import io
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from fixtures_data import good_records, record, write_config, write_diving48
from pevl import paths
from pevl.cli import main
from pevl.shards import ShardWriter, decode_sample, iter_raw, iter_tar, verify_shards
from schemas import load_config


def _samples(n: int) -> list[tuple[str, dict[str, bytes]]]:
    rng = np.random.default_rng(0)
    return [(f"k{i:02d}", {"mp4": rng.bytes(300 + 700 * i), "pose.npy": b"p" * 10, "json": b"{}"}) for i in range(n)]


def _write(folder, samples, max_samples=3, max_bytes=1 << 20) -> list[str]:
    with ShardWriter(folder, "ds-train", max_samples, max_bytes) as writer:
        for key, fields in samples:
            writer.write(key, fields)
    return writer.names


def test_writer_is_deterministic_with_fixed_headers(tmp_path):
    names = _write(tmp_path / "a", _samples(7))
    assert names == ["ds-train-000000.tar", "ds-train-000001.tar", "ds-train-000002.tar"]
    _write(tmp_path / "b", _samples(7))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with tarfile.open(tmp_path / "a" / names[0]) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["k00.mp4", "k00.pose.npy", "k00.json", "k01.mp4", "k01.pose.npy",
                                         "k01.json", "k02.mp4", "k02.pose.npy", "k02.json"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o644)}
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_writer_rotates_on_bytes_and_keeps_finished_tars(tmp_path):
    # members take 3072, 3584, 4608 and 5120 B: the first two fit 8 KiB together, the others not
    names = _write(tmp_path / "a", _samples(4), max_samples=100, max_bytes=8192)
    sizes = [(tmp_path / "a" / n).stat().st_size for n in names]
    assert len(names) == 3
    with tarfile.open(tmp_path / "a" / names[0]) as tar:
        assert len(tar.getmembers()) == 6
    assert all(s % 10240 == 0 for s in sizes)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / names[0]).write_bytes(b"kept")  # a tar finished by an interrupted run is not rewritten
    _write(tmp_path / "b", _samples(4), max_samples=100, max_bytes=8192)
    assert (tmp_path / "b" / names[0]).read_bytes() == b"kept"
    assert (tmp_path / "b" / names[1]).read_bytes() == (tmp_path / "a" / names[1]).read_bytes()
    with pytest.raises(ValueError, match="without dots"):
        _write(tmp_path / "c", [("a.b", {"json": b"{}"})])


def test_plain_tar_reader_groups_samples_like_webdataset(tmp_path):
    names = _write(tmp_path, _samples(5))
    for name in names:
        mine = list(iter_tar(tmp_path / name))
        theirs = list(iter_raw(tmp_path / name))
        assert [s["__key__"] for s in mine] == [s["__key__"] for s in theirs]
        assert [s["mp4"] for s in mine] == [s["mp4"] for s in theirs]
    with pytest.raises(ValueError, match="missing mp4"):
        decode_sample({"__key__": "x", "json": b"{}", "pose.npy": b""})


@pytest.fixture()
def shards(tmp_path):
    config = write_config(tmp_path, write_diving48(tmp_path / "d48", good_records(4), [record("t1", 1)]))
    assert main(["run", str(config)]) == 0
    return paths.shards_dir(load_config(config))


def _rewrite(tar_path, change):
    """Rewrite a tar through `change(sample dict) -> sample dict | None`."""
    samples = [s for s in (change(dict(s)) for s in iter_tar(tar_path)) if s is not None]
    with tarfile.open(tar_path, "w", format=tarfile.GNU_FORMAT) as tar:
        for s in samples:
            for ext, data in s.items():
                if not ext.startswith("__"):
                    info = tarfile.TarInfo(f"{s['__key__']}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def test_verify_passes_clean_shards_and_names_each_defect(shards, capsys):
    assert main(["shards", "verify", str(shards)]) == 0
    assert "5 samples checked, 0 defect(s)" in capsys.readouterr().out

    first = sorted((shards / "train").glob("*.tar"))[0]

    def corrupt(s):
        meta = json.loads(s["json"])
        if s["__key__"] == "-clip01":  # float64 pose
            buf = io.BytesIO()
            np.save(buf, np.load(io.BytesIO(s["pose.npy"])).astype(np.float64))
            s["pose.npy"] = buf.getvalue()
        if s["__key__"] == "_clip02":  # label out of range, also disagreeing with the manifest
            s["json"] = json.dumps({**meta, "label": 99}).encode()
        if s["__key__"] == "clip00":  # a field missing
            del s["mp4"]
        return s

    _rewrite(first, corrupt)
    (shards / "train" / "diving48-train-000009.tar.tmp").write_bytes(b"partial")
    (shards / "test" / "stray.tar").write_bytes((shards / "test" / "diving48-test-000000.tar").read_bytes())
    assert main(["shards", "verify", str(shards)]) == 1
    out = capsys.readouterr().out
    assert "-clip01: pose float64(4, 17, 3), meta says float32(4, 17, 3)" in out
    assert "_clip02: label 99 out of range [0, 4)" in out
    assert "_clip02: label 99 differs from the manifest's 2" in out
    assert "clip00: fields missing ['mp4']" in out
    assert "diving48-train-000009.tar.tmp: partial file left behind" in out
    assert "test/stray.tar: tar not in the manifest" in out


def test_verify_checks_the_manifest_and_sizes(shards):
    rows = pq.read_table(shards / "manifest.parquet").to_pylist()
    pq.write_table(pq.read_table(shards / "manifest.parquet").slice(1), shards / "manifest.parquet")
    (shards / "sizes.json").write_text(json.dumps({"train": 9}))
    _, defects = verify_shards(shards)
    assert any(f"{rows[0]['key']}: not in the manifest" in d for d in defects)
    assert any(d.startswith("sizes.json:") for d in defects)
    (shards / "manifest.parquet").unlink()
    assert "missing" in verify_shards(shards)[1][0]
