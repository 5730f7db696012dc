"""Prefect flow of batch inference, deployment `pevl/predict`: videos -> predictions.parquet, a table, an MLflow run.

    prefect deployment run pevl/predict -p model=models:/pevl-synthdive/1 -p videos=/data/new --watch

The videos are split into batches of `batch_size` (pevl/predict/batch.py); one task per batch
loads the model once and predicts its videos with `predict_videos`, mapped on a subflow whose
task runner comes from `orchestration` (threads, processes or Dask, as the poses stage fans
out). Bad videos are rejected rows; bad inputs and the system's faults (an unwritable output
folder, a model that does not resolve, a dead tracking server) fail the run with one line, before
any video is read.
"""

import time
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE

from flows.pipeline import run_tags
from flows.runners import build_task_runner
from pevl.predict.batch import STOPS, merge_rows, plan_batches, prepare_job, table_rows
from pevl.predict.batch_tracking import EXPERIMENT, finish_predict_run, predict_tracking_uri, start_predict_run
from pevl.predict.predict import CONFIG, summary_line, write_predictions
from schemas import OrchestrationConfig

TABLE_KEY = "pevl-predictions"
DEFAULT_OUT = Path("work") / "predictions"  # + the flow run's name, under the directory the flow runs in


@task(name="predict-batch", cache_policy=NO_CACHE)
def predict_batch_task(videos: list[dict], model: str, top_k: int, clips: int, crops: int, device: str,
                       tracking_uri: str) -> list[dict]:
    """Predict one batch of video records with one model load; the rows as dicts, in order."""
    from pevl.predict.batch import predict_batch

    return predict_batch(videos, model, top_k, clips, crops, device, tracking_uri)


@flow(name="predict-fanout")
def predict_fanout(batches: list[list[dict]], model: str, top_k: int, clips: int, crops: int, device: str,
                   tracking_uri: str) -> list[list[dict]]:
    """Map predict_batch_task over the batches; their rows, batch by batch, in order."""
    futures = predict_batch_task.map(batches, unmapped(model), unmapped(top_k), unmapped(clips), unmapped(crops),
                                     unmapped(device), unmapped(tracking_uri))
    return [future.result() for future in futures]


def publish_table(rows: list, summary: str, model: str, parquet: Path) -> None:
    """The results as a Prefect table artifact: video, status, top-1, prob, reason."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(table_rows(rows), key=TABLE_KEY,
                          description=f"**predict**: {summary} with `{model}` -> `{parquet}`")


@flow(name="pevl", description="Batch inference: a trained model on a folder of videos -> predictions.parquet")
def predict_flow(model: str, videos: str | list[str], out: str | None = None, top_k: int = 5,
                 views: str | None = None, batch_size: int = 16, device: str = "auto",
                 tracking_uri: str | None = None, experiment: str = EXPERIMENT,
                 orchestration: OrchestrationConfig | None = None):
    """Predict every video with `model` (a checkpoint or a runs:/ or models:/ URI), in batches; the result record.

    Args:
        videos: a folder, a video, a .txt list (PATH or PATH<TAB>START<TAB>END per line), or a list of those.
        out: where predictions.parquet and config.yaml go (default work/predictions/<flow run name>).
        views: CLIPSxCROPS, e.g. 2x1 (default: the model's train.eval_clips x eval_crops).
        batch_size: videos per task; each task loads the model once.
        tracking_uri: the MLflow server of the run and of a model URI (default $MLFLOW_TRACKING_URI).
        orchestration: the task runner the batches run on (default: a thread pool over every core).
    """
    from prefect.runtime import flow_run
    from prefect.states import Failed

    logger = get_run_logger()
    started = time.perf_counter()
    inputs = [videos] if isinstance(videos, str) else list(videos)
    folder = Path(out or DEFAULT_OUT / str(flow_run.name)).expanduser().resolve()
    orch = orchestration or OrchestrationConfig()
    try:
        uri = predict_tracking_uri(tracking_uri)
        job = prepare_job(inputs, model, folder, views, uri)
        batches = plan_batches(job.videos, batch_size)
        params = {"model": job.model, "videos": ", ".join(inputs), "out": str(folder), "top_k": top_k,
                  "views": f"{job.clips}x{job.crops}", "batch_size": batch_size, "device": device,
                  "task_runner": orch.task_runner}
        tags = {**run_tags(), "model": job.model, "model_sha256": job.loaded.sha256,
                "dataset": job.loaded.cfg.dataset.name}
        tracker = start_predict_run(uri, experiment, f"predict-{flow_run.name}", params, tags)
    except STOPS as e:
        logger.error("%s", e)
        return Failed(message=str(e))
    logger.info("predict: %d videos in %d batches of up to %d on the %s task runner with %s (MLflow run %s)",
                len(job.videos), len(batches), batch_size, orch.task_runner, job.model, tracker.run_id)
    try:
        fanout = predict_fanout.with_options(task_runner=build_task_runner(orch))
        rows = merge_rows(fanout(batches, job.model, top_k, job.clips, job.crops, device, uri))
        parquet = write_predictions(folder, rows, job.loaded)
    except STOPS as e:
        logger.error("%s", e)
        tracker.end("FAILED")
        return Failed(message=str(e))
    except BaseException:
        tracker.end("FAILED")  # an error of the code, or an interrupt: the run is no longer running
        raise
    summary = summary_line(rows)
    publish_table(rows, summary, job.model, parquet)
    finish_predict_run(tracker, job.inputs, rows, [parquet, folder / CONFIG], time.perf_counter() - started)
    logger.info("predict: %s -> %s", summary, parquet)
    predicted = sum(r.status == "ok" for r in rows)
    return {"predictions": str(parquet), "videos": len(job.videos), "rows": len(rows), "predicted": predicted,
            "rejected": len(rows) - predicted, "batches": len(batches), "mlflow_run_id": tracker.run_id,
            "summary": summary}
