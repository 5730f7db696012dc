"""The MLflow run of a batch prediction: what predicted (the model URI or checkpoint), on what, with what result.

One run per batch prediction in the experiment `pevl-predict` (by default): params (the model,
the inputs, top-k, views, batch size), tags (the model and its checkpoint's sha256, the Prefect
flow run), one dataset input per input folder, video or list file, context `inference` (digest:
the videos' own sha256, as each row recorded it), the metrics `videos`, `rows` (more than videos
when long ones are predicted in windows), `predicted`, `rejected` (rows) and `seconds`, and
predictions.parquet with the model's config.yaml as artifacts.

The tracking server is the given URI, else $MLFLOW_TRACKING_URI, else `<work_dir>/mlflow.db` of
the default config, as training picks it; a server that does not answer is a `StageError` before
any video is read. A call that fails later is one warning (`Tracker`), and the predictions stand.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

from pevl.predict.inputs import VideoInput
from pevl.storage.outputs import StageError
from pevl.tracking.inputs import DIGEST_CHARS
from pevl.tracking.runs import (
    Tracker,
    _get_or_create_experiment,
    bound_http_retries,
    git_commit,
    server_problem,
    tracking_uri,
)
from schemas import PipelineConfig, PredictionRow

EXPERIMENT = "pevl-predict"
CONTEXT = "inference"


def predict_tracking_uri(given: str | None = None) -> str:
    """The tracking URI of a batch prediction: `given`, else $MLFLOW_TRACKING_URI, else the default store.

    Raises StageError when it is no usable URI or its server does not answer.
    """
    cfg = PipelineConfig()
    try:
        uri = tracking_uri(cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"uri": given})}))
    except ValueError as e:
        raise StageError(f"predict: {e}") from None
    bound_http_retries()
    problem = server_problem(uri)
    if problem:
        raise StageError(f"predict: the MLflow tracking server {uri} does not answer ({problem}): start it "
                         "(`pevl up`) or point tracking_uri / $MLFLOW_TRACKING_URI at a running one")
    return uri


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store; a server chooses its own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
    return None


def start_predict_run(uri: str, experiment: str, run_name: str, params: dict[str, Any],
                      tags: dict[str, str]) -> Tracker:
    """A new run in `experiment` (created when missing) with the given params and tags, plus git_commit.

    Raises StageError with one line when the server refuses it.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        exp_id = _get_or_create_experiment(client, experiment, artifact_root(uri))
        run = client.create_run(exp_id, run_name=run_name,
                                tags={k: str(v) for k, v in {"git_commit": git_commit(), **tags}.items()})
    except Exception as e:  # MlflowException: a bad experiment name, a store that cannot be written
        lines = str(e).strip().splitlines()
        raise StageError(f"predict: cannot start an MLflow run in experiment {experiment!r} at {uri}: "
                         f"{lines[0][:300] if lines else type(e).__name__}") from None
    tracker = Tracker(client, run.info.run_id, uri)
    tracker.log_params(params)
    return tracker


def rows_digest(rows: list[PredictionRow]) -> str:
    """A short hash of the videos predicted: each one's path, frame range and content sha256."""
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.path}\0{r.start_frame}\0{r.end_frame}\0{r.sha256}\n".encode())
    return h.hexdigest()[:DIGEST_CHARS]


def input_datasets(inputs: dict[str, list[VideoInput]], rows: list[PredictionRow]) -> list[Any]:
    """One DatasetInput per input (folder, video or list file): source its path, digest its videos' content.

    An input's rows are those of its videos' files (a long video predicted in windows has several).
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    datasets = []
    for item, videos in inputs.items():
        path = Path(item).expanduser().absolute()
        files = {str(v.path) for v in videos}
        own = [r for r in rows if r.path in files]
        profile = {"videos": len(videos), "predicted": sum(r.status == "ok" for r in own),
                   "rejected": sum(r.status == "rejected" for r in own)}
        entity = Dataset(path.name or str(path), rows_digest(own), "local", json.dumps({"uri": str(path)}),
                         None, json.dumps(profile))
        datasets.append(DatasetInput(entity, [InputTag("mlflow.data.context", CONTEXT)]))
    return datasets


def finish_predict_run(tracker: Tracker, inputs: dict[str, list[VideoInput]], rows: list[PredictionRow],
                       outputs: list[Path], seconds: float) -> None:
    """Log the inputs, the counts, the output files; mark the run FINISHED."""
    tracker.log_inputs(input_datasets(inputs, rows))
    predicted = sum(r.status == "ok" for r in rows)
    videos = len({v for found in inputs.values() for v in found})
    tracker.log_metrics({"videos": videos, "rows": len(rows), "predicted": predicted,
                         "rejected": len(rows) - predicted, "seconds": seconds})
    for path in outputs:
        tracker.log_artifact(path)
    tracker.end("FINISHED")
