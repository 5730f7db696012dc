"""What a training run read, as MLflow dataset inputs: one `mlflow.data` dataset per shard split.

Each split of the shards folder becomes a dataset named `<dataset>-<split> shards/<hash>`, whose
source is the folder's manifest (`<shards>/manifest.parquet`, the folder's index) and whose digest
hashes the manifest's sha256 and the sha256 of every tar of that split, as the shard stage's
`_COMPLETE` marker recorded them (no tar is read again; a folder without recorded hashes, such as
test fixtures, falls back to file names and sizes). The run records it with the context
`training` (train split), `validation` (the split evaluated each epoch, when it is not test) and
`evaluation` (test), so the MLflow UI's Datasets column names the shards a run used.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

from pevl.shards.manifest import MANIFEST, read_sizes

DIGEST_CHARS = 16  # MLflow allows 36


def _recorded_files(folder: Path) -> dict[str, dict]:
    """relpath -> {bytes, sha256} from the shard stage's marker ({} when it recorded none)."""
    from pevl.storage.outputs import read_marker

    return dict(((read_marker(folder) or {}).get("outputs") or {}).get("files") or {})


def split_digest(folder: Path, split: str) -> str:
    """A short hash of the manifest and the split's tars (their recorded sha256, else name and size)."""
    folder = Path(folder)
    recorded = _recorded_files(folder)
    names = [MANIFEST] + sorted(str(p.relative_to(folder)) for p in (folder / split).glob("*.tar"))
    h = hashlib.sha256()
    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        known = recorded.get(name, {}).get("sha256")
        h.update(f"{name}\0{known or path.stat().st_size}\n".encode())
    return h.hexdigest()[:DIGEST_CHARS]


def shard_dataset(folder: Path, dataset: str, split: str) -> Any:
    """The `mlflow.data` dataset of one split: source = the folder's manifest, digest = split_digest."""
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json
    from mlflow.data.meta_dataset import MetaDataset

    folder = Path(folder).resolve()
    source = get_dataset_source_from_json(json.dumps({"uri": str(folder / MANIFEST)}), "local")
    return MetaDataset(source, name=f"{dataset}-{split} shards/{folder.name}", digest=split_digest(folder, split))


def shard_inputs(folder: Path, dataset: str, val_split: str = "val") -> list[Any]:
    """DatasetInput records of a run: train (training), val_split (validation), test (evaluation).

    Args:
        folder: the shards folder (manifest.parquet, sizes.json, <split>/*.tar).
        dataset: the dataset's name (the datasets' name prefix).
        val_split: the split evaluated each epoch (no validation input when it is test or empty).
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    sizes = read_sizes(folder)
    splits = {"train": "training", "test": "evaluation"}
    if val_split not in ("test", "train") and sizes.get(val_split, 0) > 0:
        splits[val_split] = "validation"
    inputs = []
    for split, context in splits.items():
        if not sizes.get(split):
            continue
        meta = shard_dataset(folder, dataset, split).to_dict()
        tars = len(list((Path(folder) / split).glob("*.tar")))
        profile = json.dumps({"split": split, "samples": sizes[split], "tars": tars, "folder": str(folder)})
        entity = Dataset(meta["name"], meta["digest"], meta["source_type"], meta["source"], None, profile)
        inputs.append(DatasetInput(entity, [InputTag("mlflow.data.context", context)]))
    return inputs


def log_shard_inputs(tracker: Any, cfg: Any) -> None:
    """Record cfg's shard splits as the dataset inputs of a tracker's run (no-op when it is inactive)."""
    if tracker.active:
        from pevl import paths

        tracker.log_inputs(shard_inputs(paths.shards_dir(cfg), cfg.dataset.name, cfg.train.val_split))
