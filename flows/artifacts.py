"""Pieces of the run summary in the Prefect UI: links to the MLflow runs and the grid's comparison table.

`mlflow_location` finds where the runs are (tracking URI, experiment id: one MLflow call to a
tracking server, none for a database URI or with tracking off); `run_link` makes a run id a markdown link into the MLflow UI (plain text for
a database URI, which has no UI); `publish_comparison` turns the grid's comparison.md into a
Prefect table artifact, one row per grid row, the columns of the markdown table.
"""

import json
import logging
from pathlib import Path

from schemas import PipelineConfig

log = logging.getLogger("flows.artifacts")

COMPARISON_KEY = "pevl-comparison"
STUDY_KEY = "pevl-study"
# MLflow 3.17's UI picks GenAI or model-training pages from this URL parameter (else from its own
# toggle, GenAI by default), not from the experiment's kind tag: every link carries it.
UI_VIEW = "?workflowType=machine_learning"


def mlflow_location(cfg: PipelineConfig) -> dict[str, str]:
    """{uri, experiment, experiment_id} of the config's runs ({} when tracking is off)."""
    if not cfg.tracking.enabled:
        return {}
    from pevl.tracking.runs import experiment_name, tracking_uri

    uri, name = tracking_uri(cfg), experiment_name(cfg)
    return {"uri": uri, "experiment": name, "experiment_id": experiment_id(uri, name)}


def experiment_id(uri: str, name: str) -> str:
    """The id of experiment `name` on tracking server `uri` ("" for a database URI, a dead server or no such
    experiment: links are then left out, and nothing waits on a dead server)."""
    from pevl.tracking.runs import bound_http_retries, server_problem

    if not uri.startswith(("http://", "https://")) or server_problem(uri, timeout=2.0):
        return ""
    try:
        from mlflow.tracking import MlflowClient

        bound_http_retries()
        exp = MlflowClient(tracking_uri=uri).get_experiment_by_name(name)
        return exp.experiment_id if exp else ""
    except Exception as e:  # noqa: BLE001 - the summary is published without links then
        log.warning("MLflow experiment %s at %s not found for the summary's links: %s", name, uri, e)
        return ""


def experiment_url(uri: str, name: str) -> str:
    """The MLflow UI page of experiment `name` on the training-runs side (the experiments list when unknown)."""
    exp = experiment_id(uri, name)
    return f"{uri.rstrip('/')}/#/experiments{'/' + exp if exp else ''}{UI_VIEW}"


def run_link(where: dict[str, str], run_id: str) -> str:
    """A run id as a markdown link into the MLflow UI (`id` alone without an http tracking server)."""
    uri = where.get("uri", "")
    if not run_id or not uri.startswith(("http://", "https://")):
        return f"`{run_id}`"
    exp = where.get("experiment_id")
    page = f"experiments/{exp}/runs/{run_id}" if exp else f"runs/{run_id}"
    return f"[{run_id}]({uri.rstrip('/')}/#/{page}{UI_VIEW})"  # no code span: Prefect shows its backticks in a link


def experiment_link(where: dict[str, str]) -> str:
    """A markdown line linking the experiment's runs table (empty without an http server)."""
    uri, exp = where.get("uri", ""), where.get("experiment_id", "")
    if not exp or not uri.startswith(("http://", "https://")):
        return f"MLflow: experiment `{where['experiment']}` at `{uri}`" if uri else ""
    return f"MLflow: [experiment {where['experiment']}]({uri.rstrip('/')}/#/experiments/{exp}{UI_VIEW}) at `{uri}`"


def grid_child_runs(table: str | Path) -> list[tuple[str, str]]:
    """(row x seed, MLflow run id) of a grid from the rows.json beside its comparison table."""
    path = Path(table).with_name("rows.json")
    if not path.is_file():
        return []
    return [(f"{r['name']} seed {r['seed']}", r["mlflow_run_id"]) for r in json.loads(path.read_text())
            if r.get("mlflow_run_id")]


def comparison_rows(markdown: str) -> list[dict[str, str]]:
    """The first markdown table of a text as records (header -> cell), the separator line skipped."""
    table: list[str] = []
    for line in (line.strip() for line in markdown.splitlines()):
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    if len(table) < 2:
        return []
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    header, body = cells[0], [row for row in cells[1:] if not all(set(c) <= set("-: ") for c in row)]
    return [dict(zip(header, row)) for row in body]


def publish_comparison(table: str | Path, description: str, key: str = COMPARISON_KEY) -> bool:
    """A Prefect table artifact of the grid's comparison.md, or of a study's study.md (True when one was created)."""
    path = Path(table)
    rows = comparison_rows(path.read_text()) if path.is_file() else []
    if not rows:
        return False
    from prefect.artifacts import create_table_artifact

    create_table_artifact(rows, key=key, description=description)
    return True
