"""Diving48 adapter (also SynthDive's) on a tiny fixture in the real layout, and vocab -> text."""

import json

import pytest

from fixtures_data import VOCAB, good_records, record, write_diving48
from pevl.datasets import DatasetError, make_key, read_dataset
from pevl.datasets.text import diving48_class_text


def test_reads_clips_classes_and_splits(tmp_path):
    root = write_diving48(tmp_path / "d48", good_records(4), [record("testclip", 3, 2, 20)])
    index = read_dataset("diving48", root)
    assert index.records == 5 and not index.rejects
    by_id = {c.clip_id: c for c in index.clips}
    assert set(by_id) == {"clip00", "-clip01", "_clip02", "clip03", "testclip"}
    t = by_id["testclip"]
    assert (t.split, t.label, t.start_frame, t.end_frame, t.source) == ("test", 3, 2, 20, "rgb/testclip.mp4")
    assert [c.label for c in index.classes] == [0, 1, 2, 3]
    synth = read_dataset("synthdive", root)
    assert {c.dataset for c in synth.clips} == {"synthdive"}


def test_every_bad_record_becomes_a_reject_with_a_reason(tmp_path):
    train = good_records(2) + [
        record("../../x", 0),                      # escapes the root
        {"vid_name": "nolabel", "start_frame": 0},  # missing fields
        record("oob", 48),                         # label out of range (4 classes here)
        record("gone", 1),                         # video missing
        record("backwards", 1, 10, 5),             # empty range
        record("clip00", 2),                       # duplicate id
        "not a record",
        {"vid_name": "neg", "label": 1, "start_frame": -3, "end_frame": 5},
    ]
    root = write_diving48(tmp_path / "d48", train, [])
    (root / "rgb" / "gone.mp4").unlink()
    index = read_dataset("diving48", root)
    reasons = {r.clip_id: r.reason for r in index.rejects}
    assert index.records == len(train) == len(index.clips) + len(index.rejects)
    assert [c.clip_id for c in index.clips] == ["clip00", "clip01"]
    assert reasons["../../x"].startswith("path escapes the dataset root")
    assert reasons["nolabel"] == "bad annotation: missing field(s) label, end_frame"
    assert reasons["oob"] == "label out of range: 48 not in [0, 4)"
    assert reasons["gone"].startswith("missing file: rgb/gone.mp4")
    assert reasons["backwards"].startswith("bad annotation: empty frame range")
    assert reasons["train#8"].startswith("bad annotation: record is str")
    assert reasons["neg"].startswith("bad annotation: start_frame")
    assert any(r.clip_id == "clip00" and r.reason.startswith("duplicate clip id") for r in index.rejects)
    assert {r.stage for r in index.rejects} == {"ingest"}


def test_v1_file_names_are_read_and_a_missing_split_file_is_named(tmp_path):
    root = write_diving48(tmp_path / "d48", good_records(2), [])
    (root / "Diving48_V2_train.json").rename(root / "Diving48_train.json")
    assert len(read_dataset("diving48", root).clips) == 2
    (root / "Diving48_V2_test.json").unlink()
    with pytest.raises(DatasetError, match="Diving48_V2_test.json"):
        read_dataset("diving48", root)
    with pytest.raises(DatasetError, match="does not exist"):
        read_dataset("diving48", tmp_path / "nowhere")


def test_bad_vocab_is_a_dataset_error(tmp_path):
    root = write_diving48(tmp_path / "d48", good_records(1), [])
    (root / "Diving48_vocab.json").write_text(json.dumps([["Back", "15som"]]))
    with pytest.raises(DatasetError, match="4-string lists"):
        read_dataset("diving48", root)


def test_vocab_codes_become_sentence_phrases_and_attributes():
    c = diving48_class_text(0, VOCAB[0])
    assert c.text == "a diver performs a back takeoff, 1.5 somersaults, 0.5 twists, free position"
    assert c.phrases == ["back takeoff", "1.5 somersaults", "0.5 twists", "free position"]
    assert c.attributes == {"takeoff": "back", "somersaults": "1.5", "twists": "0.5", "position": "free"}
    dive = diving48_class_text(1, ["Forward", "Dive", "NoTwis", "STR"])
    assert dive.phrases == ["forward takeoff", "a plain dive", "no twist", "straight position"]
    assert dive.attributes["somersaults"] == "dive" and dive.attributes["twists"] == "0"
    one = diving48_class_text(2, ["Reverse", "1som", "1Twis", "PIKE"])
    assert one.phrases[1:3] == ["1 somersault", "1 twist"]
    many = diving48_class_text(3, ["Inward", "45som", "35Twis", "TUCK"])
    assert many.phrases[1:3] == ["4.5 somersaults", "3.5 twists"]


def test_keys_are_sanitised_unique_and_dot_free():
    assert make_key("-abc_00001") == "-abc_00001"
    a, b = make_key("a.b"), make_key("a_b")
    assert "." not in a and a != b and a.startswith("a_b-")
    assert "/" not in make_key("../../x") and make_key("../../x") != make_key("__/__/x")
