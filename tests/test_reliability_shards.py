"""A damaged shard never trains silently: a reused shard stage is checked against its marker (sizes
always, sha256 with `--verify`) and recomputed, and the training loader stops with an error naming
the tar when one holds fewer samples than the manifest (cut between members) or cannot be read
(cut inside a member).

Real tars from `pevl run` on a tiny Diving48 fixture, cut the way a full disk or a killed copy cuts
them; the real WebDataset loader reads them.
"""

import logging
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fixtures_data import good_records, record, write_config, write_diving48
from flows.caching import outputs_present
from pevl import paths
from pevl.cli import main
from pevl.data.checked_tars import ShardError, check_epoch
from pevl.data.loader import make_eval_loader, make_train_loader
from pevl.stages.summary import summarize
from schemas import load_config

TRAIN = 8


def _run(tmp_path: Path, max_samples: int = 3):
    root = write_diving48(tmp_path / "d48", good_records(TRAIN), [record("t1", 1), record("t2", 2)])
    config = write_config(tmp_path, root, shards={"max_samples": max_samples})
    assert main(["run", str(config)]) == 0
    overrides = ["model.num_frames=4", "model.image_size=32", "train.batch_size=4", "train.num_workers=0",
                 "train.shuffle_buffer=8"]
    return config, load_config(config, overrides)


def _tars(cfg) -> dict[str, bytes]:
    folder = paths.shards_dir(cfg)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.tar"))}


def _cut(tar: Path, sample: int, inside: bool) -> None:
    """Cut a tar (3 members per sample) at the header of `sample`'s first member, or inside its data."""
    with tarfile.open(tar) as t:
        member = t.getmembers()[3 * sample]
    at = member.offset_data + member.size // 2 if inside else member.offset
    tar.write_bytes(tar.read_bytes()[:at])


def test_a_reused_shard_stage_with_a_cut_tar_is_recomputed(tmp_path, caplog, capsys):
    config, cfg = _run(tmp_path)
    expected = _tars(cfg)
    tar = sorted((paths.shards_dir(cfg) / "train").glob("*.tar"))[1]
    _cut(tar, 1, inside=False)
    assert main(["run", str(config)]) == 0
    assert f"{tar} has" in caplog.text and "recomputing" in caplog.text
    assert "shard: done" in capsys.readouterr().out
    assert _tars(cfg) == expected


def test_verify_finds_a_same_size_change_that_sizes_miss(tmp_path, capsys):
    config, cfg = _run(tmp_path)
    expected = _tars(cfg)
    tar = sorted((paths.shards_dir(cfg) / "train").glob("*.tar"))[0]
    with tarfile.open(tar) as t:
        at = t.getmembers()[0].offset_data + 3
    data = bytearray(tar.read_bytes())
    data[at] ^= 0xFF
    tar.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    assert "nothing recomputed" in capsys.readouterr().out  # sizes match: the cheap check passes
    assert main(["run", str(config), "--verify"]) == 0
    assert "shard: done" in capsys.readouterr().out
    assert _tars(cfg) == expected


def test_prefect_cache_hits_check_the_recorded_sizes(tmp_path):
    _, cfg = _run(tmp_path)
    assert outputs_present(str(paths.shards_dir(cfg)))
    _cut(sorted((paths.shards_dir(cfg) / "train").glob("*.tar"))[0], 1, inside=False)
    assert not outputs_present(str(paths.shards_dir(cfg)))


@pytest.mark.parametrize("inside", [False, True], ids=["between_members", "mid_member"])
def test_training_loader_stops_on_a_cut_tar_naming_it(tmp_path, inside, caplog):
    caplog.set_level(logging.INFO)
    _, cfg = _run(tmp_path, max_samples=100)  # one train tar: every epoch reads it to its end
    shards = paths.shards_dir(cfg)
    loader, steps = make_train_loader(cfg, shards, epoch=0)
    assert sum(len(b["key"]) for b in loader) == steps * 4  # intact: a full epoch
    tar = shards / "train" / "diving48-train-000000.tar"
    _cut(tar, TRAIN // 2, inside)
    loader, _ = make_train_loader(cfg, shards, epoch=0)
    expected = r"unreadable after \d samples \(ReadError: unexpected end of data\)" if inside else \
        "read 4 samples, the manifest lists 8"
    with pytest.raises(ShardError, match=expected) as error:
        list(loader)
    assert str(tar) in str(error.value) and "pevl shards verify" in str(error.value)


def test_eval_loader_checks_every_tar_and_worker_errors_stay_one_line(tmp_path):
    _, cfg = _run(tmp_path)
    shards = paths.shards_dir(cfg)
    tar = sorted((shards / "train").glob("*.tar"))[0]
    _cut(tar, 2, inside=False)
    one_worker = cfg.model_copy(update={"train": cfg.train.model_copy(update={"num_workers": 1})})
    with pytest.raises(ShardError, match="read 2 samples, the manifest lists 3") as error:
        list(make_eval_loader(one_worker, shards, "train"))  # raised in a DataLoader worker process
    assert str(error.value).startswith(str(tar)) and "\n" not in str(error.value)


def test_the_summary_counts_the_files_on_disk_not_a_kept_count(tmp_path):
    _, cfg = _run(tmp_path)
    assert summarize(cfg)["ok"]
    manifest = paths.shards_dir(cfg) / "manifest.parquet"
    table = pq.read_table(manifest)
    pq.write_table(table.slice(0, table.num_rows - 2), manifest)  # two samples gone from the manifest
    summary = summarize(cfg)
    assert not summary["ok"] and summary["samples"] == TRAIN + 2 - 2
    assert "manifest 8 samples" in summary["disagreement"] and "marker 10" in summary["disagreement"]


def test_an_epoch_short_of_its_batches_is_an_error(tmp_path):
    check_epoch(4, 4, tmp_path)
    with pytest.raises(ShardError, match="gave 3 of 4 batches"):
        check_epoch(3, 4, tmp_path)
