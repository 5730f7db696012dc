"""Follow a Prefect flow run until it ends: its states and its log lines, read through Prefect's client.

`watch_flow_run` polls the server (`read_flow_run`; `read_flow_runs` for the subflows it starts,
such as the grid's rows and the pose batches; `read_logs` filtered on those runs after a timestamp
cursor; `read_task_runs` for the name of a task a line came from) and hands what is new to a
`WatchView` (pevl/services/watch_view.py). Lines reach the server in batches from several
processes, so a line may arrive after a later one: every read looks `LOOKBACK_S` behind the
newest line seen and skips the lines it already has. A run that has already ended is told from
its first line to its last.
"""

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from pevl.services.watch_view import LogEntry, WatchView

log = logging.getLogger("pevl.watch")
LOOKBACK_S = 30.0
PAGE = 200
SETTLE_S = 5.0  # after the run ends, how long to wait for its last lines
LOST_AFTER_S = 60.0  # the server not answering for this long stops the watch


class WatchError(RuntimeError):
    """The flow run cannot be followed (unknown id, no server)."""


@contextmanager
def prefect_client(api_url: str | None = None, auth: str | None = None) -> Iterator[Any]:
    """Prefect's sync client for the server at api_url (default: PREFECT_API_URL), with its auth string."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    updates = {PREFECT_API_URL: api_url} if api_url else {}
    updates.update({PREFECT_API_AUTH_STRING: auth} if auth else {})
    with temporary_settings(updates=updates), get_client(sync_client=True) as client:
        yield client


def ui_url(api_url: str, flow_run_id: str) -> str:
    """The flow run's page in the Prefect UI (the API URL without its /api)."""
    return f"{api_url.rstrip('/').removesuffix('/api')}/runs/flow-run/{flow_run_id}"


def task_label(name: str) -> str:
    """A task run's name without the suffix Prefect adds (`train-1a9` -> `train`)."""
    return re.sub(r"-[0-9a-f]{3}$", "", name)


class FlowRunFeed:
    """The new log lines of a flow run and of its subflows, each with the task run it came from."""

    def __init__(self, client: Any, flow_run_id: UUID, lookback_s: float = LOOKBACK_S):
        self.client, self.lookback = client, timedelta(seconds=lookback_s)
        self.runs: set[UUID] = {flow_run_id}
        self.seen: dict[UUID, datetime] = {}  # log id -> its timestamp, within the lookback
        self.cursor: datetime | None = None
        self.tasks: dict[UUID, tuple[str, datetime | None]] = {}  # task run id -> (label, start)

    def new_entries(self) -> list[LogEntry]:
        """Lines not handed out before, oldest first."""
        self._find_subflows()
        logs = self._read_logs()
        unknown = {entry.task_run_id for entry in logs if entry.task_run_id and entry.task_run_id not in self.tasks}
        if unknown:
            self._read_tasks(unknown)
        return [LogEntry(e.timestamp, e.level, e.name, e.message, *self.tasks.get(e.task_run_id, ("", None)))
                for e in logs]

    def _find_subflows(self) -> None:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

        while True:
            found = self.client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=sorted(self.runs))))
            new = {r.id for r in found} - self.runs
            if not new:
                return
            self.runs |= new

    def _read_logs(self) -> list[Any]:
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterTimestamp
        from prefect.client.schemas.sorting import LogSort

        since = LogFilterTimestamp(after_=self.cursor - self.lookback) if self.cursor else None
        where = LogFilter(flow_run_id=LogFilterFlowRunId(any_=sorted(self.runs)), timestamp=since)
        fresh, offset = [], 0
        while True:
            page = self.client.read_logs(where, limit=PAGE, offset=offset, sort=LogSort.TIMESTAMP_ASC)
            fresh += [e for e in page if e.id not in self.seen]
            offset += len(page)
            if len(page) < PAGE:
                break
        for e in fresh:
            self.seen[e.id] = e.timestamp
            self.cursor = max(self.cursor or e.timestamp, e.timestamp)
        if self.cursor is not None:
            old = self.cursor - 2 * self.lookback
            self.seen = {i: t for i, t in self.seen.items() if t >= old}
        return fresh

    def _read_tasks(self, ids: set[UUID]) -> None:
        from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

        for run in self.client.read_task_runs(task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=sorted(ids)))):
            self.tasks[run.id] = (task_label(run.name), run.start_time)


def _what(client: Any, flow_run: Any) -> str:
    """`pevl/full-pipeline` (flow/deployment), or the flow's name for a run of no deployment."""
    flow = client.read_flow(flow_run.flow_id).name
    if flow_run.deployment_id is None:
        return f"flow {flow}"
    return f"{flow}/{client.read_deployment(flow_run.deployment_id).name}"


def _read_run(client: Any, flow_run_id: str) -> Any:
    """The flow run; WatchError when the id is malformed or unknown to the server."""
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_flow_run(UUID(str(flow_run_id)))
    except (ValueError, ObjectNotFound):
        raise WatchError(f"no flow run {flow_run_id} on the Prefect server at {client.api_url}") from None


def _ended_for(run: Any) -> float | None:
    """Seconds since the run reached a final state (by the server's clock); None while it runs."""
    if not run.state.is_final():
        return None
    return (datetime.now(timezone.utc) - (run.end_time or run.state.timestamp)).total_seconds()


def watch_flow_run(flow_run_id: str, view: WatchView, api_url: str | None = None, auth: str | None = None,
                   poll_s: float = 1.0, settle_s: float = SETTLE_S) -> Any:
    """Follow a flow run on the server at api_url (default PREFECT_API_URL) until it ends; returns its final State.

    After the run ends, lines are read until none came for `settle_s` (they reach the server in
    batches). Raises WatchError for an unknown run or a server that stops answering for LOST_AFTER_S.
    """
    import httpx

    with prefect_client(api_url, auth) as client:
        run = _read_run(client, flow_run_id)
        view.header(run.name, str(run.id), _what(client, run), ui_url(str(client.api_url), str(run.id)),
                    run.parameters.get("stages"))
        feed, shown, quiet_since, lost_since = FlowRunFeed(client, run.id), None, None, None
        while True:
            try:
                run = client.read_flow_run(run.id)
                entries = feed.new_entries()
            except (httpx.HTTPError, OSError) as e:
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > LOST_AFTER_S:
                    raise WatchError(f"the Prefect server at {client.api_url} stopped answering ({e})") from None
                time.sleep(poll_s)
                continue
            lost_since = None
            view.start = view.start or run.start_time
            if run.state.name != shown and not run.state.is_final():  # the end is said last, after the lines
                shown = run.state.name
                view.state(run.state.timestamp, shown)
            for entry in entries:
                view.entry(entry)
            ended_for = _ended_for(run)
            quiet_since = None if entries or ended_for is None else quiet_since or time.monotonic()
            if quiet_since is not None and max(ended_for, time.monotonic() - quiet_since) >= settle_s:
                break
            time.sleep(poll_s)
        seconds = (run.end_time - run.start_time).total_seconds() if run.end_time and run.start_time else None
        view.finish(run.end_time or run.state.timestamp, run.state.name, seconds)
        return run.state
