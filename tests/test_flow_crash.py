"""A serving process group killed mid-run: Prefect marks the flow run CRASHED and `--watch` returns.

Real servers and the real `pevl serve` (tests/servers.py); the whole serving group gets SIGKILL
(a crash, an OOM kill, a container stop) while a flow run is RUNNING. The heartbeat automation
`pevl serve` creates (flows/crash_detection.py) must end the run within its window; the measured
times are logged (shown with -o log_cli=true), not asserted.
"""

import logging
import os
import signal
import subprocess
import time

import psutil
import pytest

from flows.crash_detection import AUTOMATION_NAME, CRASH_AFTER_S
from pevl.services import servers as services
from pevl.services.security import api_post
from servers import both_servers, client_env, serving, wait_for
from test_flow_e2e import write_tiny_config

log = logging.getLogger(__name__)  # measured figures: shown with -o log_cli=true

pytestmark = pytest.mark.slow


def _runs(api: str, auth: str | None, state_type: str) -> list[dict]:
    body = {"flow_runs": {"state": {"type": {"any_": [state_type]}}}}
    return api_post(api, "flow_runs/filter", body, auth, timeout=30)


def test_killed_serving_group_leaves_no_running_flow_run(tmp_path):
    state = tmp_path / "state"
    config = write_tiny_config(tmp_path)
    with both_servers(state) as (prefect, mlflow):
        env = client_env(prefect, mlflow, state)
        api, auth = env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING")
        watch = None
        try:
            with serving(state, env, [str(config)], ["full-pipeline"]) as serve:
                automations = api_post(api, "automations/filter", {}, auth)
                assert AUTOMATION_NAME in [a["name"] for a in automations]
                watch = subprocess.Popen([services.console_script("prefect"), "deployment", "run",
                                          "pevl/full-pipeline", "--watch"], env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                assert wait_for(lambda: _runs(api, auth, "RUNNING"), 300, 1.0), "no flow run started"
                group = [serve.pid, *(c.pid for c in psutil.Process(serve.pid).children(recursive=True))]
                os.killpg(serve.pid, signal.SIGKILL)
                killed = time.monotonic()
                assert wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status()
                                                != psutil.STATUS_ZOMBIE for p in group), 30)
            crashed = wait_for(lambda: not _runs(api, auth, "RUNNING"), CRASH_AFTER_S + 150, 2.0)
            to_crash = time.monotonic() - killed
            assert crashed, "the flow run is still RUNNING after the detection window"
            out, _ = watch.communicate(timeout=120)
            to_watch = time.monotonic() - killed
            assert watch.returncode != 0
            assert "Crashed" in out or "CRASHED" in out, out[-2000:]
            runs = _runs(api, auth, "CRASHED")
            assert len(runs) == 1 and "no heartbeat" in runs[0]["state"]["message"]
            log.info(f"kill -> CRASHED {to_crash:.0f} s, kill -> --watch returned {to_watch:.0f} s")
        finally:
            if watch is not None and watch.poll() is None:
                watch.kill()
                watch.wait()
