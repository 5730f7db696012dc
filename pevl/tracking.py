"""MLflow tracking: one experiment per dataset, explicit run ids, thread-safe logging.

Everything goes through `MlflowClient` with an explicit run id (never `mlflow.start_run`'s
thread-local active run), so Prefect's thread task runner can log several runs at once.
Tracking URI: `tracking.uri` in the config, else $MLFLOW_TRACKING_URI, else an absolute
`sqlite:///<work_dir>/mlflow.db` with artifacts under `<work_dir>/mlartifacts` (MLflow 3's
deprecated `./mlruns` file store is never used).
"""

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pevl.paths import work_dir
from schemas import PipelineConfig, flatten

log = logging.getLogger(__name__)

MAX_PARAM_CHARS = 6000


def tracking_uri(cfg: PipelineConfig) -> str:
    """The tracking URI for a config: config, then environment, then <work_dir>/mlflow.db."""
    uri = cfg.tracking.uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
        if not (uri.startswith(("http://", "https://", "sqlite:", "postgresql", "mysql", "databricks"))):
            raise ValueError(f"tracking.uri {uri!r}: use a server URL or a database URI (file stores are deprecated)")
        return uri
    path = work_dir(cfg) / "mlflow.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def artifact_location(cfg: PipelineConfig, uri: str) -> str | None:
    """Artifact root for new experiments; None lets a tracking server choose its own."""
    if cfg.tracking.artifact_location:
        return cfg.tracking.artifact_location
    if uri.startswith("sqlite:"):
        return (work_dir(cfg) / "mlartifacts").as_uri()
    return None


def experiment_name(cfg: PipelineConfig) -> str:
    """`tracking.experiment`, or pevl-<dataset name>."""
    return cfg.tracking.experiment or f"pevl-{cfg.dataset.name}"


def git_commit() -> str:
    """The commit of the code that runs (HEAD of this package's repo), or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
            text=True, timeout=5, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def config_params(cfg: PipelineConfig) -> dict[str, str]:
    """The flattened resolved config as MLflow params (values as strings, capped in length)."""
    flat = flatten(cfg.model_dump(mode="json"))
    return {k: str(v)[:MAX_PARAM_CHARS] for k, v in flat.items()}


def _get_or_create_experiment(client: Any, name: str, location: str | None) -> str:
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created meanwhile by another thread or process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


@dataclass
class Tracker:
    """One MLflow run addressed by id; with `client=None` every call is a no-op (rank > 0, disabled)."""

    client: Any = None
    run_id: str | None = None

    @property
    def active(self) -> bool:
        """True when calls reach MLflow."""
        return self.client is not None and self.run_id is not None

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log scalar metrics at a step (one batched request)."""
        if not self.active or not metrics:
            return
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, int(step or 0)) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch, synchronous=True)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log params in batches of 100 (MLflow's limit per request)."""
        if not self.active:
            return
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100], synchronous=True)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set run tags."""
        if not self.active:
            return
        for k, v in tags.items():
            self.client.set_tag(self.run_id, k, str(v))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload one file (or a folder's files) to the run's artifacts."""
        if not self.active:
            return
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED / FAILED / KILLED."""
        if self.active:
            self.client.set_terminated(self.run_id, status=status)


def start_run(
    cfg: PipelineConfig,
    run_name: str,
    ablation: str = "",
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> Tracker:
    """Create a run in the dataset's experiment with params = flattened config and standard tags.

    Tags: dataset, git_commit, ablation, config name, plus `tags` (e.g. the Prefect flow-run id
    and deployment name); `parent_run_id` nests the run under a grid's parent run.
    """
    if not cfg.tracking.enabled:
        return Tracker()
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(cfg)
    client = MlflowClient(tracking_uri=uri)
    exp_id = _get_or_create_experiment(client, experiment_name(cfg), artifact_location(cfg, uri))
    all_tags = {"dataset": cfg.dataset.name, "git_commit": git_commit(), "ablation": ablation or "none",
                "config_name": cfg.name, **(tags or {})}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(exp_id, run_name=run_name, tags={k: str(v) for k, v in all_tags.items()})
    tracker = Tracker(client, run.info.run_id)
    tracker.log_params(config_params(cfg))
    log.info("MLflow run %s (%s) in experiment %s at %s", run.info.run_id, run_name, experiment_name(cfg), uri)
    return tracker


def attach_run(cfg: PipelineConfig, run_id: str | None) -> Tracker:
    """A Tracker that keeps logging to an existing run (resume, evaluation); no-op when run_id is None."""
    if not cfg.tracking.enabled or not run_id:
        return Tracker()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri(cfg))
    client.update_run(run_id, status="RUNNING")
    return Tracker(client, run_id)
