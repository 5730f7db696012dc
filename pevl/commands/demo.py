"""`pevl demo CONFIG`: what `make demo` runs — servers up, deployments served, the full pipeline run, predictions.

Steps: `pevl up`; `pevl serve` in the background (log in the state dir); what will run and about
how long; a flow run of pevl/full-pipeline started through Prefect's client (the config as its
parameters when the served default differs), followed as `pevl watch` follows it (stages,
progress, epochs, grid rows); then how long it took, where to look (Prefect UI, MLflow UI), the
grid's comparison table itself (each row's test top-1 and its Δ to the row above), a few new
SynthDive videos predicted by the model the run registered (pevl/predict/demo_videos.py), and how
to stop (`make down`). A second demo reuses the cached stages and says so.
"""

import argparse
import json
import logging
import os
import re
import time
from pathlib import Path

from pevl.commands.up import add_port_args, add_state_arg, service_errors
from pevl.console import quiet_logs, say
from pevl.progress import duration

log = logging.getLogger("pevl.demo")
UUID = re.compile(r"UUID:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")  # in Prefect CLI output
DEPLOYMENT = "pevl/full-pipeline"
# The last measured first `make demo` (docs/orchestration.md): 2-core AMD EPYC, fresh clone, nothing else running.
ESTIMATE = "about 8 minutes on 2 CPU cores (8 min 23 s on a fresh clone, 2026-12-03)"
PREDICTED_VIDEOS = 4
STOP = "Both UIs stay up. Stop everything with `make down` (or `pevl down`)."


def add_parser(subparsers) -> None:
    """Register `demo`."""
    p = subparsers.add_parser("demo", help="start the servers, serve the deployments, run pevl/full-pipeline, "
                                           "predict new videos with the trained model")
    p.add_argument("config", help="pipeline YAML, e.g. configs/demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    add_state_arg(p)
    add_port_args(p)
    p.set_defaults(func=run, limit=None)


def _grid_rows(cfg) -> str:
    """`components: 5 rows, 2 at a time` (the grid file's name alone when it cannot be read)."""
    from pevl.grid.spec import load_grid

    try:
        spec = load_grid(cfg.grid.file)
    except Exception:  # noqa: BLE001 - the grid stage reports a bad grid file itself
        return Path(cfg.grid.file).stem
    seeds = len(cfg.grid.seeds) or 1
    rows = f"{len(spec.runs)} rows" + (f" x {seeds} seeds" if seeds > 1 else "")
    return f"{spec.name}: {rows}, {cfg.grid.parallel} at a time"


def stage_plan(cfg) -> list[str]:
    """What pevl/full-pipeline does with this config, one line per stage."""
    synth = cfg.dataset.synth
    classes = len(synth.classes) if synth.classes else 48
    source = (f"render SynthDive ({classes} classes x {synth.clips_per_class} clips, {synth.width}x{synth.height}), "
              if cfg.dataset.name == "synthdive" else f"{cfg.dataset.name} at {cfg.dataset.root}: ")
    beside = ", beside the grid" if cfg.grid.beside_train else ""
    return [f"  ingest    {source}index the clips",
            f"  decode    {cfg.decode.frames} frames per clip, short side {cfg.decode.short_side} px",
            f"  poses     2D keypoints of the main person ({cfg.poses.backend})",
            "  shard     WebDataset shards: frames + keypoints + class texts",
            f"  train     {cfg.model.backbone}, {cfg.train.epochs} epoch{'s' * (cfg.train.epochs != 1)} on "
            f"{cfg.train.device}{beside}",
            "  evaluate  top-1 on the test split",
            f"  grid      {_grid_rows(cfg)}"]


def last_run_seconds(client, deployment_id) -> float | None:
    """How long the newest completed run of the deployment took on this server (None when it has none)."""
    from prefect.client.schemas import filters as f
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    completed = f.FlowRunFilterState(type=f.FlowRunFilterStateType(any_=[StateType.COMPLETED]))
    runs = client.read_flow_runs(deployment_filter=f.DeploymentFilter(id=f.DeploymentFilterId(any_=[deployment_id])),
                                 flow_run_filter=f.FlowRunFilter(state=completed), sort=FlowRunSort.END_TIME_DESC,
                                 limit=1)
    run = runs[0] if runs else None
    return (run.end_time - run.start_time).total_seconds() if run and run.end_time and run.start_time else None


def start_flow_run(api_url: str, auth: str | None, config: dict) -> tuple[str, float | None]:
    """Create a flow run of pevl/full-pipeline (the config as parameters when the served default differs);
    (its id, how long the last completed run took)."""
    from pevl.services.watch import prefect_client

    with prefect_client(api_url, auth) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        same = (deployment.parameters or {}).get("config") == config
        last = last_run_seconds(client, deployment.id)
        run = client.create_flow_run_from_deployment(deployment.id, parameters={} if same else {"config": config})
    return str(run.id), last


def stage_report(record: dict) -> list[str]:
    """Which stages ran and which were reused from the cache, as lines."""
    stages = record.get("stages", {})
    ran = [s for s, v in stages.items() if v["status"] == "ran"]
    reused = [s for s, v in stages.items() if v["status"] in ("cached", "reused")]
    if stages and not ran:
        return [f"Nothing recomputed: every stage reused its cached output ({', '.join(reused)})."]
    lines = [f"Stages run: {', '.join(ran) or 'none'}."]
    if reused:
        lines.append(f"Reused from the cache: {', '.join(reused)}.")
    return lines


def comparison_lines(path: Path) -> list[str]:
    """The grid's comparison table (markdown, with each row's Δ top-1), indented; a note if it is missing."""
    if not path.is_file():
        return [f"    (not found: {path})"]
    return [f"    {line}" for line in path.read_text().splitlines() if line.strip()]


def closing_message(prefect_url: str, mlflow_url: str, flow_run_id: str, record: dict, ok: bool,
                    experiment: str = "pevl-<dataset>", seconds: float | None = None,
                    predictions: list[str] | None = None) -> list[str]:
    """Where to look, the comparison table, the predictions' lines (prediction_report), and how to stop."""
    table = record.get("stages", {}).get("grid", {}).get("info", {}).get("table", "")
    took = f" in {duration(seconds)}" if seconds is not None else ""
    lines = ["", "The pipeline run " + (f"completed{took}." if ok else f"FAILED{took} (see the flow run's logs)."),
             *stage_report(record),
             f"  Prefect UI:  {prefect_url}" + (f"/runs/flow-run/{flow_run_id}" if flow_run_id else ""),
             f"  MLflow UI:   {mlflow_url}  (experiment {experiment}: train + evaluate runs, the grid)"]
    if table:
        lines += [f"  Comparison table: {table}", *comparison_lines(Path(table))]
    if record.get("work_dir"):
        lines.append(f"  Outputs:     {record['work_dir']}")
    return [*lines, *(predictions or []), STOP]


def prediction_report(cfg, mlflow_url: str) -> tuple[list[str], bool]:
    """New SynthDive videos through the model the run registered: (the table's lines, whether it failed).

    A model that cannot be loaded is one error line and a failed demo.
    """
    from pevl import paths
    from pevl.storage.outputs import StageError

    name = cfg.tracking.register if cfg.tracking.enabled else None
    if not name or cfg.dataset.name != "synthdive":
        return ["", "No predictions: the config registers no model trained on SynthDive (tracking.register)."], False
    from pevl.predict.demo_videos import DEMO_SEED, latest_model_uri, predict_demo_videos, prediction_lines

    synth = cfg.dataset.synth
    labels = synth.classes or list(range(48))
    say(f"\nPredicting {min(PREDICTED_VIDEOS, len(labels))} new SynthDive videos with the latest version of {name} ...")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # its bar would break the table's lines
    out = paths.work_dir(cfg) / "demo-videos"
    try:
        uri = latest_model_uri(name, mlflow_url)
        # loading the model logs a page of INFO lines, and the pose models' real-footage warning does not
        # apply to SynthDive videos: errors still show, and a rejected video is a row of the table
        with quiet_logs(logging.ERROR):
            rows = predict_demo_videos(uri, out, labels, PREDICTED_VIDEOS, DEMO_SEED, (synth.width, synth.height),
                                       mlflow_url)
    except StageError as e:
        log.error("demo: no predictions: %s", e)
        return [], True
    return ["", f"Predictions of {uri} on {len(rows)} new SynthDive videos (seed {DEMO_SEED}, in {out}/rgb):",
            *prediction_lines(rows)], False


@service_errors
def run(args: argparse.Namespace) -> int:
    """Bring everything up, run the full pipeline as `pevl watch` shows it, say where to look, predict."""
    from flows.artifacts import experiment_url
    from flows.deployments import absolute_paths
    from flows.summary import summary_path
    from pevl.commands.serve import check_server, service_env, start_background
    from pevl.commands.watch import follow
    from pevl.services import servers as services
    from pevl.tracking.runs import experiment_name
    from schemas import load_config

    start = time.perf_counter()
    cfg = absolute_paths(load_config(args.config, args.overrides), Path.cwd())
    state = services.resolve_state_dir(args.state_dir)
    started = services.up(state, args.prefect_port, args.mlflow_port)
    for name, (rec, now) in started.items():
        say(f"{name}: {'started' if now else 'already up'} at {rec.url}")
    env = service_env(state)
    api, auth = env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING")
    check_server(api)
    rec, now = start_background(args, state, env)
    say(f"serve: {'started' if now else 'already running'} (log {rec.log})")
    flow_run_id, last = start_flow_run(api, auth, cfg.model_dump(mode="json"))
    say(f"\n{DEPLOYMENT} on {cfg.name}, every stage:")
    for line in stage_plan(cfg):
        say(line)
    if cfg.tracking.register:
        say(f"  then new SynthDive videos through the registered model {cfg.tracking.register}")
    say(f"Expect {ESTIMATE}" + (f"; the last run here took {duration(last)}" if last is not None else "")
        + ". Stages whose outputs exist are reused: a rerun takes seconds.\n")
    rc = follow(flow_run_id, api, auth)
    if rc == 130:  # Ctrl-C: the run goes on, follow said where to see it
        return rc
    seconds = time.perf_counter() - start
    path = summary_path(cfg, flow_run_id)
    record = json.loads(path.read_text()) if path.is_file() else {}
    mlflow_url = started["mlflow"][0].url
    predictions, failed = prediction_report(cfg, mlflow_url) if rc == 0 else ([], False)
    mlflow_page = experiment_url(mlflow_url, experiment_name(cfg))  # opens on the training runs
    for line in closing_message(started["prefect"][0].url, mlflow_page, flow_run_id, record, rc == 0,
                                experiment_name(cfg), seconds, predictions):
        say(line)
    return 1 if failed else rc
