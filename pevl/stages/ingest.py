"""ingest: the dataset's adapter -> index/clips.parquet, index/classes.json, index/rejects.parquet."""

import logging
import time
from collections import Counter

from pevl import paths
from pevl.datasets import dataset_fingerprint, read_dataset
from pevl.storage.faults import probe_writable
from pevl.storage.guard import guarded
from pevl.storage.integrity import describe_outputs
from pevl.storage.outputs import current_marker, finish, prepare, skipped
from pevl.storage.tables import write_classes, write_table
from pevl.synth import ensure_synthdive
from schemas import ClipRecord, PipelineConfig, RejectRecord, StageResult

STAGE = "ingest"
log = logging.getLogger("pevl.stages.ingest")


@guarded(STAGE)
def run_ingest(cfg: PipelineConfig, force: bool = False, verify: bool = False) -> StageResult:
    """Read the raw dataset with its adapter into the clip index (idempotent).

    Every annotation record becomes a clip row or a rejects row (stage "ingest"). The output is
    reused while the dataset's annotation files are unchanged.
    """
    started = time.perf_counter()
    out, config_hash, root = paths.index_dir(cfg), paths.index_hash(cfg), paths.dataset_root(cfg)
    if cfg.dataset.name == "synthdive":
        ensure_synthdive(cfg.dataset)  # cheap when the dataset is there; regenerates when its parameters changed
    inputs = {"dataset": dataset_fingerprint(cfg.dataset.name, root)}
    marker = None if force else current_marker(out, config_hash, inputs, verify)
    if marker:
        return skipped(STAGE, out, marker)
    index = read_dataset(cfg.dataset.name, root)
    prepare(out, True, inputs)
    probe_writable(STAGE, out)
    write_table(out / "clips.parquet", ClipRecord, index.clips)
    write_table(out / "rejects.parquet", RejectRecord, index.rejects)
    write_classes(out / "classes.json", index.classes)
    splits = Counter(c.split for c in index.clips)
    log.info("ingest: %d records -> %d clips %s, %d rejects", index.records, len(index.clips),
             dict(splits), len(index.rejects))
    counts = {"records": index.records, "clips": len(index.clips), "rejects": len(index.rejects),
              "classes": len(index.classes)}
    if index.records != len(index.clips) + len(index.rejects):
        raise RuntimeError(f"ingest lost records: {counts}")
    outputs = describe_outputs(out, ["clips.parquet", "rejects.parquet", "classes.json"])
    return finish(STAGE, out, cfg, config_hash, inputs, counts, started, outputs)
