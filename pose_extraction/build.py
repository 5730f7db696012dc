"""build_estimator: the one place that reads the poses config."""

from pathlib import Path

from pose_extraction.types import PoseEstimator


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
    from pose_extraction.rtmlib_backend import build_rtmlib

    return build_rtmlib(cfg.rtmlib, cfg.main_person)
