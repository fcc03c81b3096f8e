"""A run that holds a library in memory is not walked by full collections."""

from __future__ import annotations

import gc

from beetsplug.dedupfuzzy import heap


def _full_collections_while(build) -> int:
    full = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(info)

    gc.callbacks.append(seen)
    try:
        build()
    finally:
        gc.callbacks.remove(seen)
    return len(full)


def _many_long_lived() -> list[list[int]]:
    # Rows kept for the run: each an object the collector tracks, living on.
    return [[i] for i in range(300_000)]


def test_full_collections_wait_for_the_end_of_the_run():
    before = gc.get_threshold()
    assert _full_collections_while(_many_long_lived) > 0  # what a run paid
    with heap.full_collections_deferred():
        assert _full_collections_while(_many_long_lived) == 0
        assert gc.get_threshold()[:2] == before[:2]  # young ones go on
    assert gc.get_threshold() == before


def test_kept_objects_leave_and_rejoin_the_collector():
    rows = _many_long_lived()
    with heap.kept_for_the_run():
        assert gc.get_freeze_count() >= len(rows)
    assert gc.get_freeze_count() == 0
