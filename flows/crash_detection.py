"""Crash detection: a `pevl` flow run whose process died is marked CRASHED by Prefect itself.

Flow runs started by `pevl serve` send a heartbeat event every HEARTBEAT_S seconds (Prefect's
`PREFECT_FLOWS_HEARTBEAT_FREQUENCY`, 30 s is its minimum). A proactive automation on the server
(the documented "zombie flow" recipe) fires when a run that sent a heartbeat sends neither another
one nor a terminal state within CRASH_AFTER_S, and sets the run CRASHED, so `--watch` returns.
Only runs of the flow `pevl` tagged SERVED_TAG (the deployments `pevl serve` serves) are matched:
a run sending Prefect's default 180 s heartbeat (a flow called from Python) is never crashed by it.
The window starts at the run's RUNNING state too, so a run that dies before its first heartbeat
reaches the server is caught as well.
"""

import logging
from datetime import timedelta

log = logging.getLogger(__name__)

AUTOMATION_NAME = "pevl: mark flow runs without heartbeats CRASHED"
HEARTBEAT_S = 30
CRASH_AFTER_S = 90  # three missed heartbeats: a busy machine delays one, never three
FLOW_NAME = "pevl"
SERVED_TAG = "pevl-served"  # on the deployments of flows/deployments.py, hence on their runs
TERMINAL = ("Completed", "Failed", "Cancelled", "Crashed")


def crash_automation():
    """The automation (not yet saved): no heartbeat for CRASH_AFTER_S after one -> CRASHED."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    trigger = EventTrigger(
        after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
        expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in TERMINAL)},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=[{"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAME},
                       {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{SERVED_TAG}"}],
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(seconds=CRASH_AFTER_S),
    )
    action = ChangeFlowRunState(state=StateType.CRASHED, name="Crashed",
                                message=f"no heartbeat for {CRASH_AFTER_S} s: the process running the flow died")
    return Automation(name=AUTOMATION_NAME, description="pevl serve's crash detection", trigger=trigger,
                      actions=[action])


def ensure_crash_automation() -> str:
    """Create the automation on the current Prefect API unless it exists; returns its id."""
    from prefect.automations import Automation

    try:
        try:
            existing = Automation.read(name=AUTOMATION_NAME)
        except ValueError:
            existing = None
        if existing is not None:
            return str(existing.id)
        created = crash_automation().create()
    except Exception as e:  # noqa: BLE001 - one line for `pevl serve` (401: no or a wrong auth string)
        raise RuntimeError(f"cannot create the crash-detection automation: {type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''} (PREFECT_API_AUTH_STRING?)") from e
    log.info("created automation %r: flow runs without a heartbeat for %d s are marked CRASHED",
             AUTOMATION_NAME, CRASH_AFTER_S)
    return str(created.id)
