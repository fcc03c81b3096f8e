"""Every item's sketch in binary, so a run that matches a few items reads the
library's sketches in one pass.

The truth is the `dedupfuzzy_blocks` flexible attribute (base64 text among
beets' other attributes, next to 4 KB fingerprint copies): reading it for
100,000 items costs seconds. The table `dedupfuzzy_sketches` keeps each
sketch as one fixed-size record with the `dedupfuzzy_fp_mtime` of the
fingerprint it was made from: a sketch changes only with its fingerprint,
and every new fingerprint comes with its own mtime, so a record is used only
while the item's row carries the same one (whoever wrote the new sketch; an
id SQLite gave to another item fails it too). Records that do not hold are
read from the stored text and written again. A record holds what the text
holds (the profiles quantised the same way), so a sketch read here equals
the one decoded from the text.

Records are kept in pages of `PAGE` consecutive item ids, one table row
each: a run reads a hundred thousand records in 25 rows (a row per record
cost a second), and caching a few items rewrites only their pages.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from beets.library import Library

from ..matching import repetition as rep
from ..matching.blockindex import INDEX_VERSION, KEYS_PER_TRACK, SketchTable
from .catalog import id_chunks

SKETCH_CACHE = "dedupfuzzy_sketch_pages"
# The layout before pages (one row per record): dropped.
_OLD_CACHE = "dedupfuzzy_sketches"
# Item ids per page (a page holds the records of ids id >> PAGE_BITS).
PAGE_BITS = 12
# Pages read at once (a page of records is 1.5 MB).
_PAGES_AT_ONCE = 16

# A record: version, key count, flags (1: profile, 2: repetition profile), a
# spare byte; the fingerprint's mtime (f64); keys (u32), positions (u16), the
# quantised profiles.
_VERSION = zlib.crc32(INDEX_VERSION.encode()) & 0xFF
_MTIME_AT = 4
_KEYS_AT = _MTIME_AT + 8
_POSITIONS_AT = _KEYS_AT + 4 * KEYS_PER_TRACK
_PROFILE_AT = _POSITIONS_AT + 2 * KEYS_PER_TRACK
_REPETITION_AT = _PROFILE_AT + 32
RECORD = _REPETITION_AT + rep.DIMS


def _ensure(lib: Library) -> None:
    with lib.transaction() as tx:
        tx.script(
            f"DROP TABLE IF EXISTS {_OLD_CACHE};"
            f"CREATE TABLE IF NOT EXISTS {SKETCH_CACHE} "
            "(page INTEGER PRIMARY KEY, ids BLOB NOT NULL, records BLOB NOT NULL)"
        )


def _pages(lib: Library, pages: Sequence[int]) -> dict[int, tuple]:
    """page -> (item ids, records), of these pages."""
    query = f"SELECT page, ids, records FROM {SKETCH_CACHE}"
    with lib.transaction() as tx:
        found = []
        for chunk, marks in id_chunks(pages):
            found += tx.query(f"{query} WHERE page IN ({marks})", chunk)
    out = {}
    for page, ids, records in found:
        held = np.frombuffer(ids, "<i8")
        if len(records) == RECORD * len(held):
            out[page] = (held, np.frombuffer(records, np.uint8).reshape(-1, RECORD))
    return out


def load(
    lib: Library, ids: Sequence[int], fp_mtimes: Sequence[float | None]
) -> SketchTable:
    """The cached sketches of these items (whose fingerprints carry these
    mtimes), row by row in their order; `counts` is -1 where none holds.

    Read some pages at a time: the records of a million items take 380 MB,
    and decoding them all at once held five times that.
    """
    _ensure(lib)
    table = SketchTable.empty(len(ids))
    if not len(ids):
        return table
    wanted = np.asarray(ids, np.int64)
    order = np.argsort(wanted, kind="stable")
    ordered = wanted[order]
    expected = np.array([np.nan if m is None else m for m in fp_mtimes], np.float64)
    with lib.transaction() as tx:
        listed = [row[0] for row in tx.query(f"SELECT page FROM {SKETCH_CACHE}")]
    for start in range(0, len(listed), _PAGES_AT_ONCE):
        for held, raw in _pages(lib, listed[start : start + _PAGES_AT_ONCE]).values():
            place = np.minimum(np.searchsorted(ordered, held), len(ordered) - 1)
            known = ordered[place] == held
            raw, at = raw[known], order[place[known]]
            made_from = raw[:, _MTIME_AT:_KEYS_AT].copy().view("<f8")[:, 0]
            current = (raw[:, 0] == _VERSION) & (made_from == expected[at])
            _fill(table, raw[current], at[current])
    return table


def _fill(table: SketchTable, raw: np.ndarray, at: np.ndarray) -> None:
    """Table rows `at` from their records."""
    flags = raw[:, 2]
    table.keys[at] = raw[:, _KEYS_AT:_POSITIONS_AT].copy().view("<u4")
    table.positions[at] = raw[:, _POSITIONS_AT:_PROFILE_AT].copy().view("<u2")
    table.counts[at] = raw[:, 1]
    profiled = (flags & 1) != 0
    table.profiles[at[profiled]] = (
        raw[profiled, _PROFILE_AT:_REPETITION_AT].astype(np.float32) / 255
    )
    repeated = (flags & 2) != 0
    table.repetitions[at[repeated]] = rep.decode_many(raw[repeated, _REPETITION_AT:])


def remember(
    lib: Library,
    ids: Sequence[int],
    fp_mtimes: Sequence[float | None],
    table: SketchTable,
    rows: Sequence[int],
) -> None:
    """Cache the sketches of table rows `rows` (of items `ids[row]`, whose
    fingerprints carry `fp_mtimes[row]`). `ids` names every item of the
    library: the records of other ids leave the pages rewritten."""
    rows = [k for k in rows if table.counts[k] >= 0 and fp_mtimes[k] is not None]
    _ensure(lib)
    if not rows:
        return
    present = np.unique(np.asarray(ids, np.int64))
    by_page: dict[int, list[int]] = {}
    for k in rows:
        by_page.setdefault(int(ids[k]) >> PAGE_BITS, []).append(k)
    pages = sorted(by_page)
    # A first run caches every sketch: some pages at a time, to bound memory.
    for start in range(0, len(pages), _PAGES_AT_ONCE):
        some = pages[start : start + _PAGES_AT_ONCE]
        old = _pages(lib, some)
        values = []
        for page in some:
            new_ids = np.array([ids[k] for k in by_page[page]], np.int64)
            records = _records(fp_mtimes, table, by_page[page])
            if page in old:
                held, kept = old[page]
                keep = np.isin(held, present) & ~np.isin(held, new_ids)
                new_ids = np.concatenate([held[keep], new_ids])
                records = np.concatenate([kept[keep], records])
            values.append((page, new_ids.astype("<i8").tobytes(), records.tobytes()))
        with lib.transaction() as tx:
            tx.mutate_many(
                f"INSERT OR REPLACE INTO {SKETCH_CACHE} (page, ids, records) "
                "VALUES (?, ?, ?)",
                values,
            )


def _records(
    fp_mtimes: Sequence[float | None], table: SketchTable, rows: Sequence[int]
) -> np.ndarray:
    """The records of these table rows (rows x RECORD bytes)."""
    at = np.asarray(rows, np.int64)
    counts = table.counts[at]
    profiles = table.profiles[at]
    repetitions = table.repetitions[at]
    profiled = ~np.isnan(profiles[:, 0])
    repeated = ~np.isnan(repetitions[:, 0])
    raw = np.zeros((len(rows), RECORD), np.uint8)
    raw[:, 0] = _VERSION
    raw[:, 1] = counts
    raw[:, 2] = profiled.astype(np.uint8) | (repeated.astype(np.uint8) << 1)
    made_from = np.array([fp_mtimes[k] for k in rows], "<f8")
    raw[:, _MTIME_AT:_KEYS_AT] = made_from.view(np.uint8).reshape(-1, 8)
    width = np.arange(KEYS_PER_TRACK)[None, :] < counts[:, None]
    keys = np.where(width, table.keys[at], 0).astype("<u4")
    positions = np.where(width, table.positions[at], 0).astype("<u2")
    raw[:, _KEYS_AT:_POSITIONS_AT] = keys.view(np.uint8)
    raw[:, _POSITIONS_AT:_PROFILE_AT] = positions.view(np.uint8)
    raw[profiled, _PROFILE_AT:_REPETITION_AT] = np.round(
        profiles[profiled] * 255
    ).astype(np.uint8)
    # `rep.encode` works element by element: one call quantises every row.
    raw[repeated, _REPETITION_AT:] = np.frombuffer(
        rep.encode(repetitions[repeated]), np.uint8
    ).reshape(-1, rep.DIMS)
    return raw
