"""build_estimator: the one place that reads the poses config."""

from pathlib import Path

from pose_extraction.types import PoseEstimator

SYNTHDIVE_MODELS = "builtin:pose/synthdive_"  # the embedded stand-ins of pevl/assets/models/pose/


def build_estimator(cfg, dataset_root: Path) -> PoseEstimator:
    """A PoseEstimator from `schemas.PoseConfig`; call once per worker process (it loads the models).

    Args:
        cfg: the `poses` section of the pipeline config.
        dataset_root: absolute dataset root; the ground-truth backend needs `<root>/keypoints/`.
    Raises:
        FileNotFoundError (ModelNotFoundError for models) naming what is missing and where it goes.
    """
    if cfg.backend == "ground_truth":
        from pose_extraction.ground_truth import GroundTruthEstimator

        folder = Path(dataset_root) / "keypoints"
        if not folder.is_dir():
            raise FileNotFoundError(
                f"poses.backend=ground_truth needs ground-truth joints in {folder} (SynthDive writes them); "
                "use backend=rtmlib for other datasets"
            )
        noise = cfg.ground_truth
        return GroundTruthEstimator(noise.jitter_px, noise.drop_prob, noise.swap_prob, noise.seed)
    if cfg.backend == "blazepose":
        from pose_extraction.blazepose_backend import build_blazepose

        return build_blazepose(cfg.blazepose, cfg.main_person)
    from pose_extraction.rtmlib_backend import build_rtmlib

    return build_rtmlib(cfg.rtmlib, cfg.main_person)


def domain_warning(cfg, dataset: str) -> str | None:
    """A warning when the configured pose models only know SynthDive renders but the videos are not SynthDive.

    Args:
        cfg: the `poses` section of the pipeline config.
        dataset: the dataset's name (`dataset.name`), or "" for arbitrary videos.
    """
    if cfg.backend != "rtmlib" or dataset == "synthdive":
        return None
    synthdive = [m for m in (cfg.rtmlib.det_model, cfg.rtmlib.pose_model) if m.startswith(SYNTHDIVE_MODELS)]
    if not synthdive:
        return None
    where = f"dataset {dataset!r}" if dataset else "these videos"
    return (f"poses: {', '.join(synthdive)} were trained on SynthDive renders only and put joints on walls, trees "
            f"and cars in real footage; for {where} use --set poses.backend=blazepose (offline, real people) or "
            "rtmlib's hub models (poses.rtmlib.det_model / pose_model URLs, on a connected machine)")
