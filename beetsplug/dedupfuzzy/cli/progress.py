"""A one-line progress counter on stderr, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def on_terminal() -> bool:
    """Progress goes to stderr: shown whenever stderr is a terminal, also when
    the listing on stdout goes to a file or a pipe."""
    return sys.stderr.isatty()


class Progress:
    """`label  n/total` redrawn in place; silent when not on a terminal."""

    def __init__(self, label: str, total: int, enabled: bool | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = on_terminal() if enabled is None else enabled
        self._last = 0.0

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()


@contextmanager
def drawn(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A stage of a run (`stages`) drawn while it runs, on a terminal; a
    stage with nothing to do shows nothing."""
    bar = Progress(label, total)
    if total:
        bar.step(0)
    try:
        yield bar.step
    finally:
        bar.close()
