"""Pipeline stages as plain functions `run_<stage>(cfg, force=False) -> StageResult`; see runner.py."""
