"""`pevl watch FLOW_RUN_ID`: follow a flow run to its end, as the pipeline tells it.

Prints what runs and where to see it, each stage's start and end (counts, rejects, seconds),
progress bars (plain lines every few percent when stdout is not a terminal), training epochs and
grid rows as they finish, warnings and errors, and the final state (pevl/services/watch.py).
Exit code 0 when the run completed, 1 when it did not, 2 when it cannot be followed.
"""

import argparse
import logging

from pevl.commands.up import add_state_arg

log = logging.getLogger("pevl.watch")


def add_parser(subparsers) -> None:
    """Register `watch`."""
    p = subparsers.add_parser("watch", help="follow a flow run: stages, progress, epochs, grid rows, final state")
    p.add_argument("flow_run_id", help="the flow run's id (the Prefect UI shows it; `pevl demo` prints it)")
    p.add_argument("--all", dest="verbose_logs", action="store_true",
                   help="also show the log lines the view leaves out (Prefect's own, every INFO line)")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="how often to ask the server")
    add_state_arg(p)
    p.set_defaults(func=run)


def follow(flow_run_id: str, api_url: str, auth: str | None = None, verbose: bool = False, poll_s: float = 1.0) -> int:
    """Follow the run on the server at api_url; 0 Completed, 1 otherwise, 2 cannot follow, 130 Ctrl-C."""
    from pevl.console import LiveLines, say
    from pevl.services.watch import WatchError, ui_url, watch_flow_run
    from pevl.services.watch_view import WatchView

    try:
        state = watch_flow_run(flow_run_id, WatchView(LiveLines(), verbose=verbose), api_url, auth, poll_s)
    except WatchError as e:
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        say(f"Stopped following; the flow run goes on: {ui_url(api_url, flow_run_id)}")
        return 130
    return 0 if state.is_completed() else 1


def run(args: argparse.Namespace) -> int:
    """Point the client at `pevl up`'s server (unless PREFECT_API_URL names one), then follow the run."""
    from pevl.commands.serve import check_server, service_env
    from pevl.services import servers as services

    env = service_env(services.resolve_state_dir(args.state_dir))
    try:
        check_server(env["PREFECT_API_URL"])
    except RuntimeError as e:
        log.error("%s", e)
        return 2
    return follow(args.flow_run_id, env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING"), args.verbose_logs,
                  args.poll)
