"""MLflow tracking: one experiment per dataset, explicit run ids, thread-safe logging.

Everything goes through `MlflowClient` with an explicit run id (never `mlflow.start_run`'s
thread-local active run), so Prefect's thread task runner can log several runs at once.
Tracking URI: `tracking.uri` in the config, else $MLFLOW_TRACKING_URI, else an absolute
`sqlite:///<work_dir>/mlflow.db` with artifacts under `<work_dir>/mlartifacts` (MLflow 3's
deprecated `./mlruns` file store is never used). Experiments carry EXPERIMENT_TAGS (their kind:
model training, not GenAI); a run's dataset inputs come from `pevl.tracking.inputs`; its model
(`Tracker.call` with pevl.predict.logged_model) is logged and registered on the same server, the
registry being the tracking server's.

Failing fast, never stalling: before training, `check_tracking` asks a tracking server's
/health with a short timeout (unreachable: `TrackingUnreachable`, or train untracked when
`tracking.on_unreachable: untracked`); MLflow's HTTP retries are bounded in this process
(`HTTP_LIMITS`, set unless the user set them); a Tracker call that fails mid-run is logged once
and every later call of that run is dropped, so a dead server never kills or stalls training.
"""

import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pevl.paths import work_dir
from schemas import PipelineConfig, flatten

log = logging.getLogger("pevl.tracking")

MAX_PARAM_CHARS = 6000
# The experiment's kind for MLflow 3's UI: training runs, not the GenAI overview. (MLflow 3.17's UI
# goes by its own GenAI / model-training toggle or the URL's workflowType: flows.artifacts.UI_VIEW.)
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
HEALTH_TIMEOUT = 5.0  # seconds for the tracking server's /health before training
# MLflow's defaults (7 retries, backoff factor 2, 120 s timeout) stall ~4 min per call on a dead
# server; these bound a refused call to ~2 s and a hung one to ~32 s. A user's own values win.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class TrackingUnreachable(RuntimeError):
    """The tracking server does not answer before training (the message says what to do)."""


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


def bound_http_retries() -> None:
    """Set MLflow's HTTP retry/timeout settings in this process (and its children) unless set already."""
    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)


def server_problem(uri: str, timeout: float = HEALTH_TIMEOUT) -> str:
    """Why a tracking server at an http(s) URI is unreachable, or '' when it answers (or is no server)."""
    if not uri.startswith(("http://", "https://")):
        return ""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return ""  # urlopen raises on anything but 2xx/3xx: MLflow answers 200 "OK"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code} from {uri.rstrip('/')}/health: not an MLflow tracking server?"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def check_tracking(cfg: PipelineConfig) -> bool:
    """True when runs will be tracked; raise TrackingUnreachable (or, by config, go untracked) on a dead server."""
    if not cfg.tracking.enabled:
        return False
    bound_http_retries()
    uri = tracking_uri(cfg)
    problem = server_problem(uri)
    if not problem:
        return True
    if cfg.tracking.on_unreachable == "fail":
        raise TrackingUnreachable(
            f"MLflow tracking server {uri} does not answer ({problem}): start it (`pevl up`), point "
            "tracking.uri / $MLFLOW_TRACKING_URI at a running one, or set tracking.on_unreachable=untracked")
    log.warning("MLflow tracking server %s does not answer (%s): training UNTRACKED "
                "(tracking.on_unreachable=untracked); checkpoints and result.json are still written", uri, problem)
    return False


def untracked(cfg: PipelineConfig) -> PipelineConfig:
    """A copy of cfg with tracking disabled (what an untracked run records in its config.yaml)."""
    return cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"enabled": False})})


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
    """The experiment's id, created with EXPERIMENT_TAGS (which an older experiment gets added)."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
        except MlflowException:  # created meanwhile by another thread or process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    for key, value in EXPERIMENT_TAGS.items():
        if exp.tags.get(key) != value:
            client.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


def _first_line(e: BaseException, limit: int = 300) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:limit] if text else ''}".rstrip(": ")


@dataclass
class Tracker:
    """One MLflow run addressed by id; with `client=None` every call is a no-op (rank > 0, disabled).

    The first call that fails (server gone, disk full on its side) is logged once as a warning;
    from then on the run's calls are dropped (counted), so logging never kills or stalls training.
    """

    client: Any = None
    run_id: str | None = None
    uri: str = ""
    failed: str = ""  # the first error, once a call failed
    dropped: int = 0
    model_id: str | None = None  # metrics logged from now on are linked to this logged model too

    @property
    def active(self) -> bool:
        """True when calls reach MLflow."""
        return self.client is not None and self.run_id is not None and not self.failed

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.active:
            self.dropped += bool(self.failed)
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - a tracking failure must never end training
            self.failed = _first_line(e)
            log.warning("MLflow %s for run %s failed (%s): training goes on; this run's later metrics, "
                        "params and artifacts are dropped", what, self.run_id, self.failed)
            return None

    def call(self, what: str, fn: Callable[[Any, str], Any]) -> Any:
        """fn(client, run_id) under the same rule as every call (logged once, later calls dropped);
        its result, None when the run is untracked or the call failed."""
        return self._call(what, lambda: fn(self.client, self.run_id))

    def link_logged_model(self) -> None:
        """Link the metrics logged from now on to the run's latest logged model (none: nothing changes)."""
        def latest(client: Any, run_id: str) -> str | None:
            outputs = client.get_run(run_id).outputs
            models = sorted(outputs.model_outputs if outputs else [], key=lambda m: m.step)
            return models[-1].model_id if models else None

        self.model_id = self.call("get_run", latest)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log scalar metrics at a step (one batched request)."""
        if not metrics:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, int(step or 0), model_id=self.model_id)
                 for k, v in metrics.items()]
        self._call("log_metrics", lambda: self.client.log_batch(self.run_id, metrics=batch, synchronous=True))

    def log_params(self, params: dict[str, Any]) -> None:
        """Log params in batches of 100 (MLflow's limit per request)."""
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._call("log_params", lambda chunk=items[i : i + 100]: self.client.log_batch(
                self.run_id, params=chunk, synchronous=True))

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set run tags."""
        for k, v in tags.items():
            self._call("set_tag", lambda k=k, v=v: self.client.set_tag(self.run_id, k, str(v)))

    def log_inputs(self, datasets: list[Any]) -> None:
        """Record dataset inputs (`mlflow.entities.DatasetInput`, e.g. pevl.tracking.inputs.shard_inputs)."""
        if datasets:
            self._call("log_inputs", lambda: self.client.log_inputs(self.run_id, datasets=datasets))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload one file (or a folder's files) to the run's artifacts."""
        path = Path(path)

        def upload() -> None:
            send = self.client.log_artifacts if path.is_dir() else self.client.log_artifact
            send(self.run_id, str(path), artifact_path)

        self._call("log_artifact", upload)

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED / FAILED / KILLED; with the server gone, say it stays RUNNING there."""
        if self.client is None or self.run_id is None:
            return
        problem = server_problem(self.uri, timeout=2.0) if self.failed else ""
        if problem:
            log.warning("MLflow run %s could not be marked %s: the server is unreachable (%s); it shows the "
                        "run RUNNING until marked by hand (%d calls dropped)",
                        self.run_id, status, problem, self.dropped)
            return
        try:
            self.client.set_terminated(self.run_id, status=status)
        except Exception as e:  # noqa: BLE001 - reported; the training result stands
            log.warning("MLflow run %s could not be marked %s (%s): the server may show it RUNNING",
                        self.run_id, status, _first_line(e))
            return
        if self.failed:
            log.warning("MLflow run %s marked %s; %d logging calls after the first failure were dropped",
                        self.run_id, status, self.dropped)


def _client(cfg: PipelineConfig) -> tuple[Any, str]:
    """An MlflowClient of the config's tracking server (its registry the same server's) and the URI."""
    from mlflow.tracking import MlflowClient

    bound_http_retries()
    uri = tracking_uri(cfg)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


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
    client, uri = _client(cfg)
    exp_id = _get_or_create_experiment(client, experiment_name(cfg), artifact_location(cfg, uri))
    all_tags = {"dataset": cfg.dataset.name, "git_commit": git_commit(), "ablation": ablation or "none",
                "config_name": cfg.name, **(tags or {})}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(exp_id, run_name=run_name, tags={k: str(v) for k, v in all_tags.items()})
    tracker = Tracker(client, run.info.run_id, uri)
    tracker.log_params(config_params(cfg))
    log.info("MLflow run %s (%s) in experiment %s at %s", run.info.run_id, run_name, experiment_name(cfg), uri)
    return tracker


def attach_run(cfg: PipelineConfig, run_id: str | None) -> Tracker:
    """A Tracker that keeps logging to an existing run (resume, evaluation); no-op when run_id is None."""
    if not cfg.tracking.enabled or not run_id:
        return Tracker()
    client, uri = _client(cfg)
    client.update_run(run_id, status="RUNNING")
    return Tracker(client, run_id, uri)


def annotate_run(cfg: PipelineConfig, run_id: str | None, params: dict[str, str], tags: dict[str, str]) -> None:
    """Add tags and params to a finished run, its status unchanged (a grid row's changed fields).

    A refusal (a param logged before with another value, the server gone) is one warning, as for every call."""
    if not cfg.tracking.enabled or not run_id:
        return
    client, uri = _client(cfg)
    tracker = Tracker(client, run_id, uri)
    tracker.set_tags(tags)
    tracker.log_params(params)
