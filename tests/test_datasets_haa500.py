"""HAA500 adapter: video/<class>/<class>_NNN.mp4, split by index, text from the class name."""

import pytest

from fixtures_data import write_haa500
from pevl.datasets import DatasetError, read_dataset


def test_split_by_index_and_labels_from_sorted_folders(tmp_path):
    root = write_haa500(tmp_path / "haa", {"soccer_header": [0, 15, 16, 17, 19], "abseiling": [3]})
    index = read_dataset("haa500", root)
    assert not index.rejects and index.records == 6
    split = {c.clip_id: (c.split, c.label) for c in index.clips}
    assert split["soccer_header_000"] == ("train", 1) and split["soccer_header_015"] == ("train", 1)
    assert split["soccer_header_016"] == ("val", 1)
    assert split["soccer_header_017"] == ("test", 1) and split["soccer_header_019"] == ("test", 1)
    assert split["abseiling_003"] == ("train", 0)
    assert index.classes[1].text == "a person performs soccer header"
    assert index.classes[1].phrases == ["soccer", "header"]
    assert index.clips[0].source == "video/abseiling/abseiling_003.mp4" and index.clips[0].end_frame is None


def test_misnamed_and_out_of_range_files_are_rejects(tmp_path):
    root = write_haa500(tmp_path / "haa", {"push_up": [0, 20]})
    (root / "video" / "push_up" / "push_up_001.mp4").write_bytes(b"")  # empty: decode rejects it later
    (root / "video" / "push_up" / "other_002.mp4").write_bytes(b"x")
    index = read_dataset("haa500", root)
    reasons = {r.clip_id: r.reason for r in index.rejects}
    assert reasons["push_up_020"] == "bad annotation: clip index 020 is outside 000-019"
    assert reasons["other_002"].startswith("bad annotation: push_up/other_002.mp4 is not named push_up_NNN.mp4")
    assert sorted(c.clip_id for c in index.clips) == ["push_up_000", "push_up_001"]
    assert index.records == 4


def test_missing_video_folder_is_named(tmp_path):
    (tmp_path / "haa").mkdir()
    with pytest.raises(DatasetError, match="no video/ folder"):
        read_dataset("haa500", tmp_path / "haa")
