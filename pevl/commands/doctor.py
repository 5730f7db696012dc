"""`pevl doctor`: what this machine offers the pipeline and what is missing, each missing item with its fix.

The checks are `pevl.services.doctor`'s; exit 0 when nothing required is missing, 1 otherwise.
"""

import argparse
import json

from pevl.commands.up import add_port_args, add_state_arg
from pevl.console import say


def add_parser(subparsers) -> None:
    """Register `doctor`."""
    p = subparsers.add_parser("doctor", help="check this machine: packages, codecs, GPU, ports, PostgreSQL, disk, "
                                             "pose models, servers")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--work-dir", default="work", help="where runs write (free disk is checked there; default ./work)")
    add_state_arg(p)
    add_port_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every check, print one line each (or JSON); 1 when something required is missing."""
    from pathlib import Path

    from pevl.services.doctor import Machine, doctor_failed, report_json, report_lines, run_checks
    from pevl.services.servers import resolve_state_dir

    machine = Machine(args.prefect_port, args.mlflow_port, resolve_state_dir(args.state_dir), Path(args.work_dir))
    checks = run_checks(machine)
    if args.json:
        say(json.dumps(report_json(checks), indent=1))
    else:
        for line in report_lines(checks):
            say(line)
    return 1 if doctor_failed(checks) else 0
