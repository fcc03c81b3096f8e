"""Python's cycle collector in runs that hold a whole library in memory.

A full collection walks every object the collector tracks, and everything
each of them refers to. A run holds a million rows, their dicts and the
model's matches for its whole life, and CPython starts a full collection
whenever the objects it tracks grew by a quarter: at a million items a
warm run walked the heap eleven times (4-5 s of 17 s), the import's
library index twice as often. The plugin makes no cyclic garbage worth
collecting meanwhile, so full collections wait for the end of the run;
young ones go on and free what short-lived cycles there are.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# A number of young collections a run never reaches.
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


def defer_full_collections() -> None:
    """`full_collections_deferred` until the process ends (an import)."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)


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
    """Objects made before the block (rows read for the whole run) are left
    out of every collection while it runs."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
