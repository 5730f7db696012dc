"""A training run's model in MLflow: the tested checkpoint as a pyfunc model, and its registered versions.

`log_trained_model` does what `mlflow.pyfunc.log_model` does, through an explicit client and run
id (the project never relies on MLflow's global tracking URI or active run, so runs in threads
stay apart): a LoggedModel named `model` with the run's params, the run's output at the
checkpoint's step (the run's Models column, the experiment's Models page), the run's metrics at
that step linked to it, and the MLflow model saved locally then uploaded. The model is code
(pyfunc_code.py) plus artifacts: the checkpoint and the pose_models folder (pevl/predict/bundle.py).
"""

import importlib.metadata
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from pevl.predict.bundle import write_pose_models
from pevl.predict.pyfunc import signature
from pevl.predict.uris import MODEL_NAME
from pevl.storage.integrity import file_sha256
from pevl.train.checkpoint import load_checkpoint
from schemas import PipelineConfig

log = logging.getLogger("pevl.predict")
CODE = Path(__file__).with_name("pyfunc_code.py")
DISTRIBUTION = "pevl-pipeline"


def pip_requirements() -> list[str]:
    """What the model needs installed: this project (which pins mlflow, torch and the rest)."""
    try:
        return [f"{DISTRIBUTION}=={importlib.metadata.version(DISTRIBUTION)}"]
    except importlib.metadata.PackageNotFoundError:
        return [DISTRIBUTION]


def _link_metrics(client: Any, run_id: str, model_id: str, step: int) -> None:
    """Link the run's metrics at `step` to the model, as mlflow's log_model does for its step."""
    from mlflow.entities import Metric

    linked = [Metric(m.key, m.value, m.timestamp, m.step, model_id=model_id, run_id=run_id)
              for key in client.get_run(run_id).data.metrics
              for m in client.get_metric_history(run_id, key) if m.step == step and m.model_id is None]
    for i in range(0, len(linked), 1000):
        client.log_batch(run_id, metrics=linked[i: i + 1000], synchronous=True)


def save_pevl_model(path: Path, checkpoint: Path, cfg: PipelineConfig, mlflow_model: Any = None) -> Path:
    """Save the MLflow model of a checkpoint to the local folder `path` (which must not exist)."""
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory(prefix="pevl-pose-models-") as tmp, warnings.catch_warnings():
        # the signature says what goes in; an input example would make MLflow run the model while logging it
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        pose_models = write_pose_models(cfg.poses, Path(tmp) / "pose_models")
        mlflow.pyfunc.save_model(
            str(path), python_model=str(CODE), mlflow_model=mlflow_model, signature=signature(),
            artifacts={"checkpoint": str(checkpoint), "pose_models": str(pose_models)},
            pip_requirements=pip_requirements(),
            metadata={"checkpoint_sha256": file_sha256(checkpoint), "dataset": cfg.dataset.name,
                      "poses_backend": cfg.poses.backend},
        )
    return Path(path)


def log_trained_model(client: Any, run_id: str, checkpoint: Path, cfg: PipelineConfig) -> str:
    """Log `checkpoint` as the run's MLflow model `model`; returns its model id (models:/<id>)."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    step = int(load_checkpoint(checkpoint).get("step", 0))
    run = client.get_run(run_id)
    model = client.create_logged_model(run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                       params=dict(run.data.params), model_type="pevl")
    try:
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=step)])
        _link_metrics(client, run_id, model.model_id, step)
        mlflow_model = Model(artifact_path=model.artifact_location, model_uuid=model.model_id, run_id=run_id,
                             model_id=model.model_id)
        with tempfile.TemporaryDirectory(prefix="pevl-mlflow-model-") as tmp:
            local = save_pevl_model(Path(tmp) / "model", checkpoint, cfg, mlflow_model)
            client.log_model_artifacts(model.model_id, str(local))
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    log.info("MLflow model %r of run %s logged (models:/%s, %s at step %d)", MODEL_NAME, run_id, model.model_id,
             checkpoint.name, step)
    return model.model_id


def register_model(client: Any, run_id: str, model_id: str, name: str) -> str:
    """A new version of registered model `name` (created when missing) from a logged model; returns the version."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as e:
        if e.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    source = f"models:/{model_id}"  # what mlflow's register_model records: the version links to the logged model
    if not str(client.tracking_uri).startswith(("http://", "https://")):
        # a database store in this process looks models:/<id> up through MLflow's global tracking URI,
        # not this client's: give it the model's artifact location instead
        source = client.get_logged_model(model_id).artifact_location
    version = client.create_model_version(name, source=source, run_id=run_id, model_id=model_id)
    log.info("MLflow registered model %s version %s (run %s): models:/%s/%s", name, version.version, run_id,
             name, version.version)
    return str(version.version)
