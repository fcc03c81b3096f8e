"""One computation in a forked process beside this one's.

A first run over a million tracks searches their nearest bit profiles and
their nearest repetition profiles by cells, each search on one core (small
matrix products: see `blas`), one after the other. They share nothing but
the index they read, so one of them runs in a forked process while this one
runs the other (`beside`). The result is the same: the same function on the
same data, handed back through a pipe. Where the system cannot fork, where
this process has other threads (a lock one of them holds would stay held in
the child), or should the child fail, the computation runs here.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

# What the forked process computes (set before it is forked).
_task: Callable[[], object] | None = None


def _run() -> object:
    assert _task is not None
    return _task()


class Result(Generic[T]):
    """The computation's result, from the forked process or made here."""

    def __init__(self, compute: Callable[[], T], future: Future | None) -> None:
        self._compute = compute
        self._future = future

    def get(self) -> T:
        if self._future is not None:
            try:
                return self._future.result()
            except (BrokenProcessPool, OSError, EOFError):
                pass  # the child failed: compute it here
        return self._compute()


@contextmanager
def beside(compute: Callable[[], T], fork: bool = True) -> Iterator[Result[T]]:
    """`compute` in a forked process while the `with` block runs here (when
    `fork` is true and forking is safe); its `Result` waits for it."""
    global _task
    if (
        not fork
        or "fork" not in multiprocessing.get_all_start_methods()
        or threading.active_count() > 1
    ):
        yield Result(compute, None)
        return
    _task = compute
    try:
        with ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("fork")
        ) as pool:
            yield Result(compute, pool.submit(_run))
    finally:
        _task = None
