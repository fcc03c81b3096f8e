"""The long stages of a run, reported as they go.

A first run of a large library spends minutes reading files, sketching,
searching and verifying; a `Stages` is told each stage's name and size and
hands back the function to call as parts of it are done. The command draws
them on a terminal (`cli.progress.drawn`); everything else runs `quiet`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Step = Callable[[int], None]
Stages = Callable[[str, int], AbstractContextManager[Step]]


def nothing(done: int) -> None:
    """A step nobody counts."""


@contextmanager
def quiet(label: str, total: int) -> Iterator[Step]:
    """Stages nobody watches."""
    yield nothing
