"""The flow's parts that need no server: cache keys, code versions, task runners, summaries,
deployments' parameters, the demo's closing message."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from flows.caching import code_version, module_sources, outputs_present
from flows.stages import is_transient, stage_cache_key
from pevl import paths
from pevl.pipeline import STAGES
from schemas import StageResult, load_config

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path, *overrides):
    return load_config(ROOT / "configs/demo.yaml", [f"work_dir={tmp_path / 'work'}", f"dataset.root={tmp_path / 'raw'}",
                                                    f"grid.file={ROOT / 'configs/ablations/components.yaml'}",
                                                    *overrides])


def keys(cfg) -> dict[str, str]:
    return {s: stage_cache_key(SimpleNamespace(task=SimpleNamespace(name=s)), {"cfg": cfg}) for s in STAGES}


def changed(a: dict, b: dict) -> set[str]:
    return {s for s in a if a[s] != b[s]}


def test_cache_keys_follow_each_stage_config(tmp_path):
    base = keys(config(tmp_path))
    assert keys(config(tmp_path)) == base
    assert changed(base, keys(config(tmp_path, "train.lr=0.0123"))) == {"train", "evaluate", "grid"}
    assert changed(base, keys(config(tmp_path, "train.eval_clips=2"))) == {"evaluate"}
    assert changed(base, keys(config(tmp_path, "poses.rtmlib.pose_input_size=[96,96]"))) == {
        "poses", "shard", "train", "evaluate", "grid"}
    assert changed(base, keys(config(tmp_path, "decode.frames=12"))) == set(STAGES) - {"ingest"}
    assert changed(base, keys(config(tmp_path, "train.num_workers=0"))) == set()
    assert changed(base, keys(config(tmp_path, "work_dir=" + str(tmp_path / "other")))) == set(STAGES)


def test_recomputed_upstream_changes_the_downstream_key(tmp_path):
    cfg = config(tmp_path)
    before = keys(cfg)
    folder = paths.poses_dir(cfg)
    folder.mkdir(parents=True)
    (folder / "_COMPLETE").write_text(json.dumps({"token": "a"}))
    first = keys(cfg)
    assert changed(before, first) == {"shard"}  # shard's key holds the poses output's token
    (folder / "_COMPLETE").write_text(json.dumps({"token": "b"}))
    assert changed(first, keys(cfg)) == {"shard"}


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_code_version_covers_imported_project_modules_only(tmp_path):
    write(tmp_path, "pevl/__init__.py", "")
    write(tmp_path, "pevl/stages/__init__.py", "")
    write(tmp_path, "pevl/stages/a.py", "import numpy\nfrom pevl.stages import b\n\ndef f():\n    from . import c\n")
    write(tmp_path, "pevl/stages/b.py", "X = 1\n")
    write(tmp_path, "pevl/stages/c.py", "Y = 1\n")
    write(tmp_path, "pevl/stages/unrelated.py", "Z = 1\n")
    names = {str(p.relative_to(tmp_path)) for p in module_sources("pevl.stages.a", tmp_path)}
    assert names == {"pevl/stages/a.py", "pevl/stages/b.py", "pevl/stages/c.py", "pevl/stages/__init__.py"}
    v0 = code_version("pevl.stages.a", tmp_path)
    write(tmp_path, "pevl/stages/unrelated.py", "Z = 2\n")
    assert code_version("pevl.stages.a", tmp_path) == v0
    write(tmp_path, "pevl/stages/c.py", "Y = 2\n")  # imported inside a function: still code of a
    assert code_version("pevl.stages.a", tmp_path) != v0


def test_real_stage_code_versions_leave_schemas_out():
    files = {p.relative_to(ROOT).parts[0] for p in module_sources("pevl.stages.train")}
    assert "schemas" not in files and "pevl" in files
    # imports inside functions count: the train stage's code includes the loop it calls lazily
    assert any(p.parts[-2:] == ("train", "loop.py") for p in module_sources("pevl.stages.train"))
    assert any(p.parts[-2:] == ("stages", "train.py") for p in module_sources("pevl.grid.stage"))


def test_outputs_present_needs_the_complete_marker(tmp_path):
    folder = tmp_path / "stage"
    folder.mkdir()
    assert not outputs_present(str(folder)) and not outputs_present("")
    (folder / "_COMPLETE").write_text("{}")
    assert outputs_present(str(folder))
    (folder / "_COMPLETE").unlink()
    assert not outputs_present(str(folder))


def test_only_transient_errors_are_retried():
    state = lambda exc: SimpleNamespace(result=lambda raise_on_failure=False: exc)  # noqa: E731
    assert is_transient(None, None, state(ConnectionResetError("reset")))
    assert is_transient(None, None, state(OSError(5, "I/O error")))
    assert not is_transient(None, None, state(FileNotFoundError("gone")))
    assert not is_transient(None, None, state(ValueError("dataset root does not exist")))


def test_task_runners_from_the_config(tmp_path):
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.runners import build_task_runner

    orch = lambda *o: config(tmp_path, *o).orchestration  # noqa: E731
    thread = orch("orchestration.task_runner=thread", "orchestration.max_workers=3")
    assert isinstance(build_task_runner(thread), ThreadPoolTaskRunner)
    process = build_task_runner(orch("orchestration.task_runner=process", "orchestration.max_workers=2"))
    assert isinstance(process, ProcessPoolTaskRunner)
    local = build_task_runner(orch("orchestration.task_runner=dask", "orchestration.max_workers=2"))
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["host"] == "127.0.0.1" and local.cluster_kwargs["n_workers"] == 2
    assert local.cluster_kwargs["dashboard_address"] is None
    remote = build_task_runner(orch("orchestration.task_runner=dask", "orchestration.dask_address=tcp://10.0.0.5:8786"))
    assert remote.address == "tcp://10.0.0.5:8786"


def test_batches_cover_every_key_once():
    from flows.poses import batches_of

    keys_ = [f"k{i}" for i in range(7)]
    batches = batches_of(keys_, 3)
    assert [len(b) for b in batches] == [3, 3, 1] and sum(batches, []) == keys_
    assert batches_of([], 3) == []


def test_summary_markdown_has_rejects_metrics_and_run_ids(tmp_path):
    from flows.summary import StageOutcome, summary_markdown, summary_record

    cfg = config(tmp_path)
    outcomes = [
        StageOutcome("ingest", "cached", StageResult(stage="ingest", output="/w/index", config_hash="h", counts={"clips": 9})),
        StageOutcome("train", "ran", StageResult(stage="train", output="/w/runs/x", config_hash="h",
                                                 metrics={"val/top1": 0.5}, info={"mlflow_run_id": "abc123"})),
        StageOutcome("evaluate", "failed", None, "StageError: no checkpoint"),
    ]
    record = summary_record(cfg, outcomes, {"prefect.flow_run_id": "f1"})
    record["data"] = {"clips": 9, "samples": 7, "rejects": 2, "rejects_by_reason": {"decode/empty file": 2}}
    md = summary_markdown(record)
    assert "| ingest | cached |" in md and "| evaluate | failed: StageError: no checkpoint |" in md
    assert "clips: 9, samples: 7, rejects: 2" in md and "| decode/empty file | 2 |" in md
    assert "| train | val/top1 | 0.5000 |" in md and "`abc123`" in md


def test_deployments_use_module_path_and_absolute_paths(tmp_path):
    from flows.deployments import absolute_paths, build_deployments

    deployments = build_deployments(ROOT / "configs/demo.yaml", base=tmp_path)
    assert [d.name for d in deployments] == ["full-pipeline", "ablation-grid"]
    for d in deployments:
        assert d.entrypoint == "flows.pipeline.pevl_flow"
        assert d.parameters["config"]["work_dir"] == str(tmp_path / "work/demo")
        assert d.parameters["config"]["dataset"]["root"] == str(tmp_path / "work/synthdive")
    assert deployments[0].parameters["stages"] == list(STAGES)
    assert deployments[1].parameters["stages"] == ["grid"]
    cfg = absolute_paths(load_config(ROOT / "configs/demo.yaml", ["work_dir=/abs/w"]), tmp_path)
    assert cfg.work_dir == "/abs/w"


def test_flow_overrides_are_validated(tmp_path):
    from flows.pipeline import resolve_config
    from schemas import ConfigError

    cfg = resolve_config(config(tmp_path), {"train.lr": 0.02, "poses.workers": 1})
    assert cfg.train.lr == 0.02 and cfg.poses.workers == 1
    with pytest.raises(ConfigError, match="train.lrr"):
        resolve_config(config(tmp_path), {"train.lrr": 0.02})


def test_demo_says_when_nothing_was_recomputed():
    from pevl.commands.demo import closing_message, stage_report

    cached = {"stages": {s: {"status": "cached", "info": {}} for s in STAGES}}
    assert stage_report(cached) == [f"Nothing recomputed: every stage reused its cached output ({', '.join(STAGES)})."]
    mixed = {"stages": {"ingest": {"status": "cached"}, "train": {"status": "ran"}}}
    assert stage_report(mixed) == ["Stages run: train.", "Reused from the cache: ingest."]
    record = {"work_dir": "/w", "stages": {"grid": {"status": "ran", "info": {"table": "/w/grids/x/comparison.md"}}}}
    text = "\n".join(closing_message("http://127.0.0.1:4200", "http://127.0.0.1:5000", "fid", record, True))
    assert "http://127.0.0.1:4200/runs/flow-run/fid" in text and "http://127.0.0.1:5000" in text
    assert "Comparison table: /w/grids/x/comparison.md" in text and "make down" in text


def test_the_flow_covers_every_stage_of_the_runner():
    from typing import get_args

    from flows.pipeline import StageName
    from flows.stages import TASKS
    from pevl.pipeline import STAGES as RUNNER_STAGES

    assert list(STAGES) == list(RUNNER_STAGES) == list(get_args(StageName)) == list(TASKS)
    assert all(TASKS[s].name == s for s in STAGES)  # the cache key reads the stage from the task name
