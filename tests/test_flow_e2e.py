"""End to end: a real Prefect server, a real MLflow server and the real `pevl serve` process;
`prefect deployment run pevl/full-pipeline --watch` on a tiny SynthDive through every stage.

The tests of this module run in order on one stack (module fixture): full run, unchanged rerun,
changed learning rate, bad dataset root. Every server is stopped in the fixture's `finally`,
failures included, and the teardown checks that no process is left.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml

from pevl.services import servers as services
from pevl.commands.demo import UUID
from servers import both_servers, client_env, serving

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DATA_STAGES = ["ingest", "decode", "poses", "shard"]
ALL_STAGES = [*DATA_STAGES, "train", "evaluate", "grid"]


def write_tiny_config(tmp: Path) -> Path:
    """configs/demo.yaml shrunk to seconds: 3 classes x 2 clips of 64x48, 1 epoch, a 2-row grid."""
    grid = tmp / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "tiny", "runs": [
        {"name": "no_pose", "set": {"model.use_pose": False}}, {"name": "pevl", "set": {}}]}))
    cfg = yaml.safe_load((ROOT / "configs/demo.yaml").read_text())
    cfg.update(name="tiny-e2e", work_dir=str(tmp / "work"))
    cfg["dataset"].update(root=str(tmp / "raw"), synth={"clips_per_class": 2, "classes": [0, 1, 2], "seed": 0,
                                                        "width": 64, "height": 48, "workers": 1})
    cfg["decode"].update(frames=8, short_side=32, workers=1)
    cfg["poses"] = {"backend": "ground_truth", "workers": 1}  # the demo's rtmlib models need 128x96 frames
    cfg["model"].update(num_frames=4, image_size=32, pretrained=None, pose_frame_ratio=1)
    cfg["train"].update(epochs=1, batch_size=4, num_workers=0, threads=1, shuffle_buffer=8, log_every=1)
    cfg["grid"] = {"file": str(grid)}
    # Poses fan out over batches of 2 clips on a process pool: the mapped path, not the inline one.
    cfg["orchestration"] = {"task_runner": "process", "max_workers": 2, "pose_batch_clips": 2}
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@dataclass
class Stack:
    tmp: Path
    env: dict[str, str]
    prefect_api: str
    mlflow_uri: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    state = tmp / "state"
    config = write_tiny_config(tmp)
    pids = []
    try:
        with both_servers(state) as (prefect, mlflow):
            pids += [prefect.pid, mlflow.pid]
            env = client_env(prefect, mlflow, state)
            with serving(state, env, [str(config)], ["full-pipeline", "ablation-grid"]) as serve:
                pids.append(serve.pid)
                yield Stack(tmp, env, env["PREFECT_API_URL"], mlflow.url)
    finally:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"processes left running: {alive}"


def deployment_run(stack: Stack, params: dict) -> tuple[int, str, dict]:
    """`prefect deployment run pevl/full-pipeline --watch --params ...`: (exit code, output, summary)."""
    out = subprocess.run([services.console_script("prefect"), "deployment", "run", "pevl/full-pipeline", "--watch",
                          "--params", json.dumps(params)], env=stack.env, capture_output=True, text=True,
                         timeout=600)
    text = out.stdout + out.stderr
    match = UUID.search(text)
    assert match, text
    summary = stack.tmp / "work" / "flow_runs" / f"{match.group(1)}.json"
    return out.returncode, text, json.loads(summary.read_text()) if summary.is_file() else {}


def statuses(summary: dict) -> dict[str, str]:
    return {stage: v["status"] for stage, v in summary["stages"].items()}


def api_post(stack: Stack, path: str, body: dict) -> list[dict]:
    """POST to the stack's Prefect API (CSRF protection is on: a token is fetched first)."""
    from pevl.services.security import api_post as post

    return post(stack.prefect_api, path, body, stack.env.get("PREFECT_API_AUTH_STRING"), timeout=30)


def test_full_pipeline_runs_every_stage_and_tracks_in_mlflow(stack):
    import mlflow

    rc, text, summary = deployment_run(stack, {})
    assert rc == 0, text[-3000:]
    assert statuses(summary) == {s: "ran" for s in ALL_STAGES}
    assert summary["data"]["clips"] == 6 and summary["data"]["samples"] + summary["data"]["rejects"] == 6
    flow_run_id = summary["tags"]["prefect.flow_run_id"]
    assert summary["tags"]["prefect.deployment"] == "full-pipeline"

    train_run = summary["stages"]["train"]["info"]["mlflow_run_id"]
    mlflow.set_tracking_uri(stack.mlflow_uri)
    try:
        runs = mlflow.search_runs(experiment_names=["pevl-synthdive"], output_format="list",
                                  filter_string=f"tags.`prefect.flow_run_id` = '{flow_run_id}'")
        artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(summary["stages"]["train"]["info"]["mlflow_run_id"])]
    finally:
        mlflow.set_tracking_uri(None)
    by_id = {r.info.run_id: r for r in runs}
    assert train_run in by_id
    run = by_id[train_run]
    assert run.data.tags["prefect.deployment"] == "full-pipeline"
    assert "train/loss" in run.data.metrics and "val/top1" in run.data.metrics  # the train stage's
    assert "test/top1" in run.data.metrics  # logged into the same run by the evaluate stage
    assert artifacts, "the training run has no artifacts"
    assert len(runs) >= 3  # train + the grid's parent and children

    found = api_post(stack, "artifacts/filter", {"artifacts": {"key": {"any_": ["pevl-run-summary"]}},
                                                  "flow_runs": {"id": {"any_": [flow_run_id]}}})
    assert found and "## Stages" in found[0]["data"] and "## MLflow runs" in found[0]["data"]


def test_unchanged_rerun_skips_every_stage(stack):
    rc, text, summary = deployment_run(stack, {})
    assert rc == 0, text[-3000:]
    assert statuses(summary) == {s: "cached" for s in ALL_STAGES}


def test_changed_learning_rate_reruns_training_only(stack):
    rc, text, summary = deployment_run(stack, {"overrides": {"train.lr": 0.002}})
    assert rc == 0, text[-3000:]
    got = statuses(summary)
    assert {s: got[s] for s in DATA_STAGES} == {s: "cached" for s in DATA_STAGES}
    assert got["train"] == "ran" and got["evaluate"] == "ran"
    # The grid's rows are the base config plus their own switches: a new base lr is a new grid.
    assert got["grid"] == "ran"


def test_bad_dataset_root_fails_with_a_clear_message(stack):
    missing = stack.tmp / "no-such-dataset"
    rc, text, summary = deployment_run(stack, {"overrides": {"dataset.name": "diving48", "dataset.root": str(missing)}})
    assert rc != 0
    assert summary["stages"]["ingest"]["status"] == "failed"
    flow_run_id = summary["tags"]["prefect.flow_run_id"]
    logs = api_post(stack, "logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
    messages = "\n".join(entry["message"] for entry in logs)
    assert f"dataset root {missing} does not exist" in messages
    assert "stage ingest failed" in messages


def test_config_error_in_parameters_is_reported_in_the_run_summary(stack):
    rc, text, summary = deployment_run(stack, {"overrides": {"train.lr": -1}})
    assert rc != 0
    assert "train.lr" in summary["config_error"] and summary["stages"] == {}
    flow_run_id = summary["tags"]["prefect.flow_run_id"]
    found = api_post(stack, "artifacts/filter", {"artifacts": {"key": {"any_": ["pevl-run-summary"]}},
                                                  "flow_runs": {"id": {"any_": [flow_run_id]}}})
    assert found and "## Config error" in found[0]["data"] and "train.lr" in found[0]["data"]


def test_pose_fan_out_gives_the_same_poses_on_threads_and_dask(stack):
    """The mapped pose batches, in this process against the stack's server: thread pool, then a
    Dask LocalCluster, each recomputing the poses the process pool made in the first run."""
    import numpy as np
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from flows.poses import run_poses_fanned_out
    from pevl import paths
    from schemas import load_config

    cfg = load_config(stack.tmp / "tiny.yaml")
    clips = paths.poses_dir(cfg) / "clips"
    before = {p.name: np.load(p) for p in sorted(clips.glob("*.npy"))}
    assert before
    with temporary_settings({PREFECT_API_URL: stack.prefect_api, PREFECT_HOME: stack.tmp / "client-home"}):
        for runner in ("thread", "dask"):
            orch = cfg.orchestration.model_copy(update={"task_runner": runner, "max_workers": 2})
            result = run_poses_fanned_out(cfg.model_copy(update={"orchestration": orch}), force=True)
            posed = sum(k.endswith(".pose.npy") for k in before)
            assert not result.skipped and result.counts["posed"] == posed, runner
            after = {p.name: np.load(p) for p in sorted(clips.glob("*.npy"))}
            assert after.keys() == before.keys(), runner
            assert all(np.array_equal(after[k], before[k]) for k in before), runner
