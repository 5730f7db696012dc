"""`pevl demo CONFIG`: what `make demo` runs — servers up, deployments served, the full pipeline run.

Steps: `pevl up`; `pevl serve` in the background (log in the state dir);
`prefect deployment run pevl/full-pipeline --watch` with the config as parameters; then how long it
took, where to look (Prefect UI, MLflow UI), the grid's comparison table itself (each row's test
top-1 and its Δ to the row above) and how to stop (`make down`). A second demo reuses the cached
stages and says so.
"""

import argparse
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

from pevl.commands.up import add_port_args, add_state_arg, service_errors
from pevl.console import say

log = logging.getLogger("pevl.demo")
UUID = re.compile(r"UUID:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def add_parser(subparsers) -> None:
    """Register `demo`."""
    p = subparsers.add_parser("demo", help="start the servers, serve the deployments, run pevl/full-pipeline")
    p.add_argument("config", help="pipeline YAML, e.g. configs/demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    add_state_arg(p)
    add_port_args(p)
    p.set_defaults(func=run, limit=None)


def deployment_run(api_url: str, env: dict[str, str], params: dict) -> tuple[int, str]:
    """`prefect deployment run pevl/full-pipeline --watch`, echoed; returns (exit code, flow run id)."""
    from pevl.services import servers as services

    command = [services.console_script("prefect"), "deployment", "run", "pevl/full-pipeline", "--watch"]
    command += ["--params", json.dumps(params)] if params else []
    log.info("running: prefect deployment run pevl/full-pipeline --watch%s", " --params <config>" if params else "")
    flow_run_id = ""
    with subprocess.Popen(command, env={**env, "PREFECT_API_URL": api_url}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            match = UUID.search(line)
            flow_run_id = flow_run_id or (match.group(1) if match else "")
    return proc.returncode, flow_run_id


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


def duration(seconds: float) -> str:
    """Seconds as '7 min 05 s' (or '42 s')."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def closing_message(prefect_url: str, mlflow_url: str, flow_run_id: str, record: dict, ok: bool,
                    experiment: str = "pevl-<dataset>", seconds: float | None = None) -> list[str]:
    """Where to look, the comparison table, and how to stop."""
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
    lines += ["Both UIs stay up. Stop everything with `make down` (or `pevl down`)."]
    return lines


@service_errors
def run(args: argparse.Namespace) -> int:
    """Bring everything up, run the full pipeline, say where to look."""
    from flows.artifacts import experiment_url
    from flows.deployments import absolute_paths
    from flows.summary import summary_path
    from pevl.commands.serve import check_server, service_env, start_background
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
    check_server(env["PREFECT_API_URL"])
    rec, now = start_background(args, state, env)
    say(f"serve: {'started' if now else 'already running'} (log {rec.log})")
    config = cfg.model_dump(mode="json")
    served = [d for d in services.deployments(env["PREFECT_API_URL"], auth=env.get("PREFECT_API_AUTH_STRING"))
              if d.get("name") == "full-pipeline"]
    # Pass the config only when the deployment's default differs (a serve started with another one).
    same = served and served[0].get("parameters", {}).get("config") == config
    rc, flow_run_id = deployment_run(env["PREFECT_API_URL"], env, {} if same else {"config": config})
    path = summary_path(cfg, flow_run_id)
    record = json.loads(path.read_text()) if flow_run_id and path.is_file() else {}
    mlflow_page = experiment_url(started["mlflow"][0].url, experiment_name(cfg))  # opens on the training runs
    for line in closing_message(started["prefect"][0].url, mlflow_page, flow_run_id, record, rc == 0,
                                experiment_name(cfg), time.perf_counter() - start):
        say(line)
    return rc
