"""The one place CLI output goes to stdout (logs go through `logging` to stderr)."""

import logging
import sys


def say(message: str = "") -> None:
    """Write a line of user-facing command output to stdout."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def setup_logging(verbose: bool = False) -> None:
    """Configure root logging to stderr once: INFO by default, DEBUG with -v."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("matplotlib", "PIL", "urllib3", "httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
