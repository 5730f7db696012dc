"""Model URIs: a training run's model (`runs:/RUN_ID`, `runs:/RUN_ID/model`) or a registered one
(`models:/NAME/VERSION`, `models:/NAME@ALIAS`), downloaded from MLflow into a temporary folder.

The tracking server is `--tracking-uri`, else $MLFLOW_TRACKING_URI, else the default config's
store (`<work_dir>/mlflow.db`, as training uses it). A server that does not answer, a run or a
name that does not exist, a download that fails: ModelError with one line naming the URI.
"""

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pevl.paths import work_dir
from pevl.predict.bundle import ModelError
from pevl.tracking.runs import bound_http_retries, server_problem, tracking_uri
from schemas import PipelineConfig

log = logging.getLogger("pevl.predict")
URI_SCHEMES = ("runs:/", "models:/")
MODEL_NAME = "model"  # the name every training run logs its model under


@dataclass
class DownloadedModel:
    """A logged model's files on this machine; the folder is removed when this object goes away.

    Attributes:
        checkpoint: the checkpoint (weights, resolved config, class texts).
        pose_models: the folder of pose model files and pose_models.json.
        folder: the temporary folder that holds them.
    """

    checkpoint: Path
    pose_models: Path
    folder: tempfile.TemporaryDirectory


def is_model_uri(ref: object) -> bool:
    """True for a `runs:/` or `models:/` URI."""
    return str(ref).startswith(URI_SCHEMES)


def model_location(client: Any, uri: str) -> str:
    """The artifact location of the model a URI names, asked through `client` (MlflowException when there is none).

    MLflow's own `runs:/` and `models:/` resolution reads its global tracking URI in places; this
    asks the given server only.
    """
    from mlflow.exceptions import MlflowException

    if uri.startswith("runs:/"):
        parts = [p for p in uri[len("runs:/"):].split("/") if p]
        if not parts or len(parts) > 2:
            raise MlflowException(f"expected runs:/RUN_ID or runs:/RUN_ID/{MODEL_NAME}")
        run_id, name = parts[0], parts[1] if len(parts) > 1 else MODEL_NAME
        run = client.get_run(run_id)
        outputs = sorted(run.outputs.model_outputs if run.outputs else [], key=lambda o: o.step)
        named = [m for m in (client.get_logged_model(o.model_id) for o in outputs) if m.name == name]
        if not named:
            raise MlflowException(f"run {run_id} logged no model named {name!r} "
                                  "(trained with tracking.log_model: false?)")
        return named[-1].artifact_location
    ref = uri[len("models:/"):].strip("/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return client.get_model_version_download_uri(name, client.get_model_version_by_alias(name, alias).version)
    if "/" in ref:
        name, version = ref.split("/", 1)
        return client.get_model_version_download_uri(name, version)
    if not ref:
        raise MlflowException("expected models:/NAME/VERSION or models:/NAME@ALIAS")
    return client.get_logged_model(ref).artifact_location  # models:/<model id>


def resolve_tracking_uri(uri: str, given: str | None = None) -> str:
    """The server of model URI `uri`: `given`, else $MLFLOW_TRACKING_URI, else the default config's
    <work_dir>/mlflow.db (which must exist)."""
    cfg = PipelineConfig()
    default = work_dir(cfg) / "mlflow.db"
    if not (given or os.environ.get("MLFLOW_TRACKING_URI")):
        if not default.is_file():
            raise ModelError(f"predict: cannot load {uri}: no MLflow tracking server given (--tracking-uri or "
                             f"$MLFLOW_TRACKING_URI) and no {default}")
        return f"sqlite:///{default}"
    try:
        return tracking_uri(cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"uri": given})}))
    except ValueError as e:
        raise ModelError(f"predict: cannot load {uri}: {e}") from None


def model_files(folder: Path) -> tuple[Path, Path]:
    """(checkpoint, pose_models folder) of a pevl model saved by MLflow in `folder`; ModelError otherwise."""
    from mlflow.models import Model

    try:
        flavor = Model.load(str(folder)).flavors.get("python_function", {})
        artifacts = {name: folder / spec["path"] for name, spec in flavor.get("artifacts", {}).items()}
        return artifacts["checkpoint"], artifacts["pose_models"]
    except Exception as e:  # no MLmodel, another kind of model
        raise ModelError(f"predict: {folder} is not a pevl model ({type(e).__name__}: {e})") from None


def download_model(uri: str, tracking: str | None = None) -> DownloadedModel:
    """Download the model a URI names into a temporary folder; ModelError with one line when it cannot be."""
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    server = resolve_tracking_uri(uri, tracking)
    bound_http_retries()
    problem = server_problem(server)
    if problem:
        raise ModelError(f"predict: cannot load {uri}: the MLflow tracking server {server} does not answer ({problem})")
    folder = tempfile.TemporaryDirectory(prefix="pevl-model-")
    try:
        location = model_location(MlflowClient(tracking_uri=server, registry_uri=server), uri)
        local = download_artifacts(artifact_uri=location, dst_path=folder.name, tracking_uri=server)
    except Exception as e:  # MlflowException (no such run, name, version or alias), OSError
        folder.cleanup()
        lines = str(e).strip().splitlines()
        why = lines[0][:300] if lines else type(e).__name__
        raise ModelError(f"predict: cannot load {uri} from {server}: {why}") from None
    checkpoint, pose_models = model_files(Path(local))
    log.info("predict: %s downloaded from %s (%s)", uri, server, location)
    return DownloadedModel(checkpoint, pose_models, folder)
