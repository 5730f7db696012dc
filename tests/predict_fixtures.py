"""A tiny trained SynthDive model shared by the `pevl predict` window, labels and render tests.

The run of tests/test_predict.py (SynthDive at 160x120, the embedded rtmlib pose models, 8 stored
frames, 2 x 1 views) without its evaluate stage, in one folder of the test session: the first
module trains it (~15 s), the others reuse its outputs as `pevl run` would.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from pevl import paths
from pevl.predict.inputs import VideoInput
from pevl.storage.tables import read_table
from schemas import ClipRecord, PipelineConfig
from scripts_import import load_script
from test_predict import SYNTH
from train_fixtures import tiny_config


@dataclass
class TinyRun:
    """A trained tiny run: its config, checkpoint and test clips."""

    cfg: PipelineConfig
    checkpoint: Path
    test: list[ClipRecord]

    def inputs(self) -> list[VideoInput]:
        """The raw test videos with their annotated frame ranges."""
        root = paths.dataset_root(self.cfg)
        return [VideoInput(root / c.source, c.start_frame or 0, c.end_frame) for c in self.test]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> TinyRun:
    """Fixture `run`: the shared tiny run (module doc); import it into a test module to use it."""
    from pevl.pipeline import run_stages

    cfg = tiny_config(tmp_path_factory.getbasetemp() / "predict-tiny", SYNTH)
    run_stages(cfg, ["ingest", "decode", "poses", "shard", "train"])
    test = [c for c in read_table(paths.index_dir(cfg) / "clips.parquet", ClipRecord) if c.split == "test"]
    return TinyRun(cfg, paths.train_dir(cfg) / f"{cfg.train.test_checkpoint}.pt", test)


def concatenated_video(sources: list[VideoInput], path: Path, fps: float = 25.0) -> tuple[Path, int]:
    """The frame ranges of `sources` one after another in one mp4v video at `fps` (scripts/predict_timeline.py's
    `concatenate`); returns it and its frame count."""
    spans = load_script("predict_timeline").concatenate(sources, path, fps)
    return path, spans[-1][1]
