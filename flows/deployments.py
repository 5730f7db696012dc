"""Deployments of flow `pevl`: served by one long-running process (`pevl serve`), or registered
for a work pool (`pevl deploy --pool NAME`) whose worker (`prefect worker start --pool NAME`)
starts each flow run as a process, a Kubernetes job, a container, as the pool's type says.

- `pevl/full-pipeline`: every stage; default parameters = the given config (the demo config).
- `pevl/ablation-grid`: the grid stage only, on the shards the config's data stages made.
- `pevl/pretrain-clip`: pretrain the embedded tiny CLIP backbone (flows/pretrain_clip.py).
- `pevl/pretrain-poses`: build the embedded pose detector's ONNX models (flows/pretrain_poses.py).
- `pevl/predict`: batch inference with a trained model on a folder of videos (flows/predict.py);
  its batches run on the config's `orchestration` task runner.

Their runs carry the tag `pevl-served`: flows/crash_detection.py marks them CRASHED when their
process dies (no heartbeat for 90 s); pool deployments set the heartbeat in their job's env.

Both use a module-path entrypoint (`flows.pipeline.pevl_flow`), so runs do not depend on where
the checkout lies. Relative paths in the config are made absolute against the working directory of
`pevl serve` / `pevl deploy`, so a run's outputs land where `pevl run` would put them.
"""

from pathlib import Path

from flows.crash_detection import HEARTBEAT_S, SERVED_TAG
from flows.pipeline import DEMO_CONFIG, pevl_flow
from pevl.pipeline import STAGES
from schemas import PipelineConfig, load_config

FULL_PIPELINE = "full-pipeline"
ABLATION_GRID = "ablation-grid"
PRETRAIN_CLIP = "pretrain-clip"
PRETRAIN_POSES = "pretrain-poses"
PREDICT = "predict"
DEPLOYMENTS = (FULL_PIPELINE, ABLATION_GRID, PRETRAIN_CLIP, PRETRAIN_POSES, PREDICT)


def absolute_paths(cfg: PipelineConfig, base: Path) -> PipelineConfig:
    """A copy of cfg with work_dir, dataset.root and grid.file absolute (relative ones from base)."""

    def absolute(p: str) -> str:
        path = Path(p).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())

    data = cfg.model_dump(mode="json")
    data["work_dir"] = absolute(cfg.work_dir)
    data["dataset"]["root"] = absolute(cfg.dataset.root)
    data["grid"]["file"] = absolute(cfg.grid.file)
    return PipelineConfig.model_validate(data)


def served_config(config_path: str | Path | None = None, overrides: list[str] | None = None,
                  base: Path | None = None) -> PipelineConfig:
    """The config the deployments take their defaults from (default configs/demo.yaml), paths made absolute."""
    return absolute_paths(load_config(config_path or DEMO_CONFIG, overrides), base or Path.cwd())


def build_deployments(config_path: str | Path | None = None, overrides: list[str] | None = None,
                      base: Path | None = None) -> list:
    """The two RunnerDeployments with the config (default configs/demo.yaml) as default parameters."""
    from prefect.deployments.runner import EntrypointType

    cfg = served_config(config_path, overrides, base)
    config = cfg.model_dump(mode="json")
    # SERVED_TAG: runs that send 30 s heartbeats, which the crash automation watches
    common = {"entrypoint_type": EntrypointType.MODULE_PATH, "tags": ["pevl", cfg.dataset.name, SERVED_TAG]}
    full = pevl_flow.to_deployment(
        FULL_PIPELINE, parameters={"config": config, "stages": list(STAGES), "force": []},
        description=f"Every stage of the PeVL pipeline on {cfg.name}", **common)
    grid = pevl_flow.to_deployment(
        ABLATION_GRID, parameters={"config": config, "stages": ["grid"], "force": []},
        description=f"The ablation grid {cfg.grid.file} on {cfg.name}'s shards", **common)
    return [full, grid]


def pretrain_deployments() -> list:
    """The pretraining flows of the embedded stand-in models (their own parameters, not the config's)."""
    from prefect.deployments.runner import EntrypointType

    from flows.pretrain_clip import pretrain_clip_flow
    from flows.pretrain_poses import pretrain_poses_flow

    common = {"entrypoint_type": EntrypointType.MODULE_PATH, "tags": ["pevl", "pretrain", SERVED_TAG]}
    clip = pretrain_clip_flow.to_deployment(
        PRETRAIN_CLIP, description="Pretrain the embedded tiny CLIP on captioned SynthDive frames", **common)
    poses = pretrain_poses_flow.to_deployment(
        PRETRAIN_POSES, description="Train the embedded YOLOX + RTMPose-format pose models on SynthDive", **common)
    return [clip, poses]


def predict_deployment(config_path: str | Path | None = None, overrides: list[str] | None = None,
                       base: Path | None = None):
    """`pevl/predict`: model, videos and out given per run; the batches on the config's task runner."""
    from prefect.deployments.runner import EntrypointType

    from flows.predict import predict_flow

    cfg = served_config(config_path, overrides, base)
    return predict_flow.to_deployment(
        PREDICT, parameters={"orchestration": cfg.orchestration.model_dump(mode="json")},
        description="Batch inference: a trained model (checkpoint, runs:/ or models:/ URI) on a folder of videos",
        entrypoint_type=EntrypointType.MODULE_PATH, tags=["pevl", PREDICT, SERVED_TAG])


def all_deployments(config_path: str | Path | None = None, overrides: list[str] | None = None,
                    base: Path | None = None) -> list:
    """Every deployment `pevl serve` and `pevl deploy` register, in DEPLOYMENTS order."""
    return [*build_deployments(config_path, overrides, base), *pretrain_deployments(),
            predict_deployment(config_path, overrides, base)]


def serve_deployments(config_path: str | Path | None = None, overrides: list[str] | None = None,
                      limit: int | None = None) -> None:
    """Register every deployment and run their flow runs until interrupted (blocks)."""
    from prefect import serve

    serve(*all_deployments(config_path, overrides), limit=limit, print_starting_message=True)


def pool_job_env() -> dict[str, str]:
    """Env of every flow run a worker starts: the heartbeat crash detection watches, the stages' loggers."""
    return {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
            "PREFECT_LOGGING_EXTRA_LOGGERS": "pevl,flows,pose_extraction"}


def deploy_to_pool(pool: str, config_path: str | Path | None = None, overrides: list[str] | None = None,
                   image: str | None = None, base: Path | None = None) -> list[str]:
    """Register every deployment for the work pool `pool` (which must exist); returns their ids.

    image: the container image of a docker / kubernetes pool's jobs (None for a process pool).
    """
    ids = []
    for deployment in all_deployments(config_path, overrides, base):
        deployment.job_variables = {"env": pool_job_env()}
        ids.append(str(deployment.apply(work_pool_name=pool, image=image)))
    return ids
