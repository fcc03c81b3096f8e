"""Parts of one computation shared with a forked process beside this one.

A first run over a million tracks searches their nearest bit profiles and
their nearest repetition profiles by cells, each search on one core (small
matrix products: see `blas`). They share nothing but the index they read, so
the repetition search runs in a forked process while this one finds the
shared keys and the nearest bit profiles. The repetition search costs more
(a wider length window, more dimensions): run whole in the forked process,
it went on 70 s after this one was done, at a million tracks. So it comes
in independent parts (`shared`): the forked process takes them from the
first on; this one, done with its own work, takes them from the last on
until none is left. The result is the same: the same parts on the same
data, handed back through a pipe. Where the system cannot fork, where this
process has other threads (a lock one of them holds would stay held in the
child), or should the child fail, the parts run here.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# What the forked process computes, and the parts not taken yet (the first
# and the last), shared with it (set before it is forked).
_compute: Callable[[int], object] | None = None
_left: Any = None


def _take(first: bool) -> int | None:
    """A part no process has taken yet: the first or the last left."""
    with _left.get_lock():
        low, high = _left[0], _left[1]
        if low > high:
            return None
        if first:
            _left[0] = low + 1
            return low
        _left[1] = high - 1
        return high


def _run() -> dict[int, object]:
    assert _compute is not None
    done = {}
    while (part := _take(first=True)) is not None:
        done[part] = _compute(part)
    return done


class Parts(Generic[T]):
    """The parts' results, from the forked process or computed here."""

    def __init__(
        self, count: int, compute: Callable[[int], T], future: Future | None
    ) -> None:
        self._count = count
        self._compute = compute
        self._future = future

    def results(self) -> list[T]:
        """Every part's result, in order: once the `with` block's own work
        is done, this process takes the parts left, from the last on."""
        mine: dict[int, T] = {}
        theirs: dict[int, T] = {}
        if self._future is not None:
            while (part := _take(first=False)) is not None:
                mine[part] = self._compute(part)
            try:
                theirs = self._future.result()
            except (BrokenProcessPool, OSError, EOFError):
                pass  # the child failed: its parts are computed here
        return [
            theirs[k] if k in theirs else mine[k] if k in mine else self._compute(k)
            for k in range(self._count)
        ]


@contextmanager
def shared(
    count: int, compute: Callable[[int], T], fork: bool = True
) -> Iterator[Parts[T]]:
    """Parts 0 to `count` - 1 of a computation (`compute(k)` for each), in a
    forked process while the `with` block runs here (when `fork` is true and
    forking is safe); `Parts.results` shares the rest with it."""
    global _compute, _left
    if (
        not fork
        or count < 1
        or "fork" not in multiprocessing.get_all_start_methods()
        or threading.active_count() > 1
    ):
        yield Parts(count, compute, None)
        return
    context = multiprocessing.get_context("fork")
    _compute, _left = compute, context.Array("i", [0, count - 1])
    try:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            yield Parts(count, compute, pool.submit(_run))
    finally:
        _compute = _left = None
