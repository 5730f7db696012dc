"""The one place CLI output goes to stdout (logs go through `logging` to stderr)."""

import contextlib
import logging
import shutil
import sys
from collections.abc import Iterator
from typing import TextIO


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


@contextlib.contextmanager
def quiet_logs(level: int = logging.WARNING) -> Iterator[None]:
    """Within the block, the console's log handlers show only records of `level` and above
    (a step whose INFO lines, e.g. open_clip's model-loading chatter, would bury the console's story)."""
    handlers = logging.getLogger().handlers
    before = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(max(h.level, level))
    try:
        yield
    finally:
        for h, old in zip(handlers, before):
            h.setLevel(old)


def is_terminal(stream: object) -> bool:
    """True when `stream` is an interactive terminal."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class LiveLines:
    """Lines written to stdout with a block of live lines (progress bars) kept under them.

    On a terminal `show` redraws the block in place (ANSI: cursor up, clear below) and `say`
    writes a line above it; anywhere else `show` writes nothing and `say` is `say`.
    """

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = is_terminal(self.stream) if tty is None else tty
        self.block: list[str] = []
        self.drawn = 0

    def say(self, message: str = "") -> None:
        """One lasting line, above the live block."""
        self._erase()
        self.stream.write(message + "\n")
        self._draw()

    def show(self, lines: list[str]) -> None:
        """Replace the live block (terminal only)."""
        if self.tty:
            self._erase()
            self.block = list(lines)
            self._draw()

    def _erase(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")  # to the block's first line, clear to the end
            self.drawn = 0

    def _draw(self) -> None:
        width = max(20, shutil.get_terminal_size().columns - 1)  # a wrapped line would break the erase count
        for line in self.block:
            self.stream.write(line[:width] + "\n")
        self.drawn = len(self.block)
        self.stream.flush()
