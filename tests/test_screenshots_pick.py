"""scripts/screenshots.py pictures the flow run that computed the demo's outputs, not a later all-cached
rerun (which has no progress artifacts): checked against a real Prefect server."""

import pytest

from pevl.progress import UiProgress
from scripts_import import load_script
from servers import drain_prefect_clients, prefect_server


def _script():
    return load_script("screenshots")


def test_the_latest_run_that_ran_a_stage_is_pictured_not_a_cached_rerun(tmp_path):
    from prefect import flow
    from prefect.runtime import flow_run
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from pevl.services import servers as services

    @flow(name="pevl")
    def pevl(compute: bool) -> str:
        if compute:  # a stage that ran reports its progress; a cached rerun reports none
            ui = UiProgress("decode", 3, "clip", min_interval=0.0)
            for _ in range(3):
                ui.update()
            ui.close()
        return flow_run.get_id()

    shots = _script()
    with prefect_server(tmp_path / "state") as rec:
        api = services.prefect_api_url(rec.port)
        base = api.removesuffix("/api")
        with temporary_settings({PREFECT_API_URL: api, PREFECT_HOME: tmp_path / "home"}):
            cached_only = pevl(False)
            with pytest.raises(SystemExit, match="ran a stage"):
                shots.latest_flow_run(base)
            computed = pevl(True)
            rerun = pevl(False)  # the second `make demo`
            picked = shots.latest_flow_run(base)
        drain_prefect_clients()
    assert picked == computed and picked not in (cached_only, rerun)
