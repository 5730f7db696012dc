"""FineGym Gym99/Gym288 adapter on a tiny fixture in the real file formats."""

import pytest

from fixtures_data import write_finegym
from pevl.datasets import DatasetError, read_dataset


@pytest.mark.parametrize("name,variant", [("finegym99", "gym99"), ("finegym288", "gym288")])
def test_clips_span_first_to_last_stage_in_frames_of_the_video_fps(tmp_path, name, variant):
    root = write_finegym(tmp_path / "fg", variant=variant, fps=25.0)
    index = read_dataset(name, root)
    assert index.records == 6 == len(index.clips) + len(index.rejects)
    clips = {c.clip_id: c for c in index.clips}
    vault = clips["vidAAAAAAA1_E_000001_000003_A_0000_0001"]
    # event starts at 1.0 s; stages 0.2 .. 1.2 s after it (3 vault stages) -> 1.2 .. 2.2 s at 25 fps
    assert (vault.start_frame, vault.end_frame) == (30, 55)
    assert (vault.split, vault.label, vault.fps, vault.source) == ("train", 0, 25.0, "vidAAAAAAA1.mp4")
    beam = clips["vid_B-BBBBB2_E_000000_000002_A_0000_0001"]
    assert beam.split == "test" and beam.source == "videos/vid_B-BBBBB2.mp4"  # the val list is the test split
    assert (beam.start_frame, beam.end_frame) == (12, 28)


def test_bad_lines_and_annotations_are_rejects(tmp_path):
    index = read_dataset("finegym99", write_finegym(tmp_path / "fg"))
    reasons = {r.clip_id: r.reason for r in index.rejects}
    assert reasons["vidAAAAAAA1_E_000002_000003_A_0000_0001"].startswith("bad annotation: no usable timestamps")
    assert reasons["vidAAAAAAA1_E_000001_000003_A_0001_0002"] == "label out of range: 7 not in [0, 3)"
    assert reasons["this"].startswith("bad annotation: gym99_train_element_v1.1.txt line 4")
    assert "not in the annotation file" in reasons["vidMISSING1_E_000000_000002_A_0000_0001"]


def test_class_texts_name_the_event_and_split_the_element(tmp_path):
    index = read_dataset("finegym99", write_finegym(tmp_path / "fg"))
    vault = index.classes[0]
    assert vault.text == ("a gymnast performs round-off, flic-flac with 0.5 turn on, stretched salto forward"
                          " on the vault")
    assert vault.phrases == ["vault", "round-off", "flic-flac with 0.5 turn on", "stretched salto forward"]
    assert vault.attributes == {"event": "vault", "set": "round-off entry"}
    beam = index.classes[2]  # a comma inside parentheses does not split the phrase
    assert beam.phrases == ["balance beam", "sissone (leg separation 180, take off two feet)"]
    assert beam.attributes["set"] == "31"  # not in set_categories.txt: the id


def test_missing_video_and_empty_video_are_rejects(tmp_path):
    root = write_finegym(tmp_path / "fg")
    (root / "videos" / "vid_B-BBBBB2.mp4").unlink()
    (root / "vidAAAAAAA1.mp4").write_bytes(b"")
    reasons = {r.clip_id: r.reason for r in read_dataset("finegym99", root).rejects}
    assert reasons["vid_B-BBBBB2_E_000000_000002_A_0000_0001"].startswith("missing file")
    assert reasons["vidAAAAAAA1_E_000001_000003_A_0000_0001"].startswith("empty file")


def test_missing_annotation_file_is_named(tmp_path):
    root = write_finegym(tmp_path / "fg")
    (root / "finegym_annotation_info_v1.1.json").unlink()
    with pytest.raises(DatasetError, match="finegym_annotation_info_v1.1.json"):
        read_dataset("finegym99", root)
