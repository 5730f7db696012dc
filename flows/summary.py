"""What a flow run did, as a JSON record (in the work dir) and Prefect artifacts.

The markdown artifact `pevl-run-summary` holds stages, data, metrics and links to the MLflow runs
(flows.artifacts); a run with a grid adds its comparison as the table artifact `pevl-comparison`.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pevl import paths
from schemas import PipelineConfig, StageResult

Status = Literal["ran", "cached", "reused", "failed"]
ARTIFACT_KEY = "pevl-run-summary"


@dataclass
class StageOutcome:
    """One stage of a flow run: ran, cached (Prefect cache hit), reused (the stage found its output), failed."""

    stage: str
    status: Status
    result: StageResult | None = None
    error: str = ""


def summary_record(cfg: PipelineConfig, outcomes: list[StageOutcome], tags: dict[str, str]) -> dict:
    """The run summary: stage statuses, data counts, rejects by reason, metrics, MLflow run ids."""
    from pevl.stages.summary import summarize

    try:
        data = summarize(cfg)
    except Exception as e:  # noqa: BLE001 - the summary of a failed run must still be published
        data = {"error": f"{type(e).__name__}: {e}"}
    stages = {}
    for o in outcomes:
        r = o.result
        stages[o.stage] = {"status": o.status, "error": o.error, "output": r.output if r else "",
                           "seconds": round(r.seconds, 2) if r else 0.0, "counts": r.counts if r else {},
                           "metrics": r.metrics if r else {}, "info": r.info if r else {}}
    from flows.artifacts import mlflow_location

    return {"config": cfg.name, "work_dir": str(paths.work_dir(cfg)), "tags": tags, "stages": stages,
            "data": data, "mlflow": mlflow_location(cfg), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def config_error_record(cfg: PipelineConfig, error: str, tags: dict[str, str]) -> dict:
    """The summary of a run whose parameters made no valid config: the error, no stages."""
    return {"config": cfg.name, "work_dir": str(paths.work_dir(cfg)), "tags": tags, "stages": {}, "data": {},
            "config_error": error, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def summary_markdown(record: dict) -> str:
    """The summary as markdown for the Prefect UI."""
    run = record["tags"].get("prefect.flow_run_name", "")
    lines = [f"# PeVL run `{record['config']}` {run}".rstrip(), "", f"work dir: `{record['work_dir']}`", ""]
    if record.get("config_error"):
        lines += ["## Config error", "The flow's parameters do not make a valid config; no stage ran.", "",
                  "```", record["config_error"], "```", ""]
    rows = [[s, v["status"] + (f": {v['error']}" if v["error"] else ""), f"{v['seconds']:.1f}", f"`{v['output']}`"]
            for s, v in record["stages"].items()]
    if rows:
        lines += ["## Stages", *_table(["stage", "status", "seconds", "output"], rows), ""]
    data = record["data"]
    if data.get("clips"):
        lines += ["## Data", f"clips: {data['clips']}, samples: {data['samples']}, rejects: {data['rejects']}", ""]
        if data["rejects_by_reason"]:
            lines += _table(["reject reason", "clips"], [[k, n] for k, n in data["rejects_by_reason"].items()])
            lines.append("")
    metrics = [[s, k, f"{v:.4f}"] for s, st in record["stages"].items() for k, v in sorted(st["metrics"].items())]
    if metrics:
        lines += ["## Metrics", *_table(["stage", "metric", "value"], metrics), ""]
    lines += _mlflow_section(record)
    table = record["stages"].get("grid", {}).get("info", {}).get("table")
    if table:
        lines += ["## Ablation table", f"`{table}`", ""]
        if Path(table).is_file():
            lines += [Path(table).read_text(), ""]
    return "\n".join(lines)


def _mlflow_section(record: dict) -> list[str]:
    """## MLflow runs: the experiment, then each stage's run and each grid row's child run, as links."""
    from flows.artifacts import experiment_link, grid_child_runs, run_link

    where = record.get("mlflow") or {}
    runs = [[s, k, run_link(where, v)] for s, st in record["stages"].items() for k, v in st["info"].items()
            if "run_id" in k and v]
    table = record["stages"].get("grid", {}).get("info", {}).get("table")
    children = grid_child_runs(table) if table else []
    runs += [["grid", f"row {name}", run_link(where, run_id)] for name, run_id in children]
    if not runs:
        return []
    head = [experiment_link(where), ""] if where else []
    return ["## MLflow runs", *head, *_table(["stage", "what", "run id"], runs), ""]


def summary_path(cfg: PipelineConfig, flow_run_id: str) -> Path:
    """<work_dir>/flow_runs/<flow run id>.json."""
    return paths.work_dir(cfg) / "flow_runs" / f"{flow_run_id or 'local'}.json"


def publish(cfg: PipelineConfig, outcomes: list[StageOutcome], tags: dict[str, str]) -> dict:
    """Write the summary JSON to the work dir and a markdown artifact to Prefect; return the record."""
    return _publish(cfg, summary_record(cfg, outcomes, tags), tags)


def publish_config_error(cfg: PipelineConfig, error: str, tags: dict[str, str]) -> dict:
    """Publish the summary of a run whose parameters are no valid config (cfg: the base config)."""
    return _publish(cfg, config_error_record(cfg, error, tags), tags)


def _publish(cfg: PipelineConfig, record: dict, tags: dict[str, str]) -> dict:
    from prefect.artifacts import create_markdown_artifact

    path = summary_path(cfg, tags.get("prefect.flow_run_id", ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    create_markdown_artifact(summary_markdown(record), key=ARTIFACT_KEY,
                             description=f"PeVL run summary ({cfg.name})")
    info = record["stages"].get("grid", {}).get("info", {})
    if info.get("table"):
        from flows.artifacts import STUDY_KEY, publish_comparison

        publish_comparison(info["table"], f"PeVL grid comparison ({cfg.name}, test metrics per grid row)")
        if info.get("study"):
            publish_comparison(info["study"], f"PeVL study ({cfg.name}, test top-1 % per condition, mean ± SE)",
                               key=STUDY_KEY)
    return record
