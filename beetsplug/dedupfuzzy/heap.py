"""Python's cycle collector in runs that hold a whole library in memory.

A full collection walks every object the collector tracks, and everything
each of them refers to. A run holds a million rows, their dicts and the
model's matches for its whole life, and CPython starts a full collection
whenever the objects it tracks grew by a quarter: at a million items a
warm run walked the heap eleven times (4-5 s of 17 s), and loading the
import's library index (the same rows) cost 5 s of 34 s that way. The
plugin makes no cyclic garbage worth collecting meanwhile, so full
collections wait for the end of the run; young ones go on and free what
short-lived cycles there are.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# More middle-generation collections than a run ever makes.
NEVER = 1 << 30


@contextmanager
def full_collections_deferred() -> Iterator[None]:
    """No full collection while the block runs (young ones go on)."""
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)


@contextmanager
def uncollected() -> Iterator[None]:
    """No collection at all while the block builds many small objects, none
    of them cyclic: each young collection would walk the new ones again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def kept_for_the_run() -> Iterator[None]:
    """Objects made before the block are left out of every collection while
    it runs: rows read for the whole run, and what forked workers share (a
    collection would write to their pages, and each worker copy them)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
