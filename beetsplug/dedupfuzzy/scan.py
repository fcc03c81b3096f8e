"""One pass over the library: fingerprint what needs it, match, group.

This is the pipeline `beet dedupfuzzy` runs before it shows or does
anything; the import hook reuses its parts one item at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from beets.library import Library

from .cli.progress import Progress
from .fingerprinting import refresh as fingerprints
from .fingerprinting.excerpts import ExcerptSource
from .matching import blockindex, groups
from .matching import matcher as matching
from .settings import Settings
from .store import catalog, paircache

log = logging.getLogger("beets")


@dataclass
class ScanResult:
    rows: dict[int, catalog.Row]
    refresh: fingerprints.RefreshReport
    groups: list[groups.ResolvedGroup]
    considered: int


def track_of(
    row: catalog.Row, sketch: blockindex.Sketch | None = None
) -> matching.Track:
    """What matching needs of a row; the sketch given, decoded or stored."""
    if sketch is None:
        sketch = (
            row.sketch
            if row.sketch is not None
            else blockindex.decode_sketch(row.blocks)
        )
    return matching.Track(
        id=row.id,
        path=row.path,
        length=row.length,
        format=row.format,
        bitrate=row.bitrate,
        bitdepth=row.bitdepth,
        samplerate=row.samplerate,
        sketch=sketch,
    )


def frame_source(rows: dict[int, catalog.Row]) -> Callable[[int], np.ndarray | None]:
    """Decode fingerprints on demand, each at most once."""
    cache: dict[int, np.ndarray | None] = {}

    def frames_of(item_id: int) -> np.ndarray | None:
        if item_id not in cache:
            row = rows.get(item_id)
            cache[item_id] = (
                fingerprints.frames_of_fingerprint(row.fingerprint) if row else None
            )
        return cache[item_id]

    return frames_of


def tiebreaker(
    lib: Library, fields: list[str]
) -> Callable[[catalog.Row], tuple] | None:
    """A sort key over configured item fields (beets duplicates' `tiebreak`)."""
    if not fields:
        return None

    def key(row: catalog.Row) -> tuple:
        item = lib.get_item(row.id)
        values = []
        for f in fields:
            v = item.get(f) if item is not None else None
            values.append((v is not None, v if v is not None else 0))
        return tuple(values)

    return key


def scan(
    lib: Library,
    ids: list[int] | None,
    settings: Settings,
    distinct: Callable[[int, int], bool] = lambda a, b: False,
) -> ScanResult:
    """Fingerprint, match and group the given items (all when `ids` is None)."""
    rows = catalog.load_rows(lib, ids)
    progress = Progress("fingerprinting", 0)

    def started(total: int) -> None:
        progress.total = total

    usable, refresh = fingerprints.refresh(
        lib, rows, settings.workers, on_progress=progress.step, on_start=started
    )
    progress.close()
    by_id = {r.id: r for r in usable}
    tracks = [track_of(r) for r in usable]
    audio = ExcerptSource(settings.workers)
    verifier = matching.Verifier(
        {t.id: t for t in tracks},
        frame_source(by_id),
        settings.match,
        known=paircache.load(lib, by_id, settings.match),
        audio=audio,
    )
    matches = [
        m for m in matching.find_matches(tracks, verifier) if not distinct(m.a, m.b)
    ]
    found = matching.build_groups(matches, verifier)
    paircache.store(lib, verifier.computed, by_id, settings.match)
    if audio.decoded:
        log.debug(
            "dedupfuzzy: {} excerpts decoded for endings and speed in {:.2f} s",
            audio.decoded,
            audio.seconds_spent,
        )
    tiebreak_fields = settings.tiebreak.get("items", [])
    resolved = groups.resolve(
        found, by_id, settings.keep, tiebreaker(lib, tiebreak_fields)
    )
    return ScanResult(by_id, refresh, resolved, len(rows))
