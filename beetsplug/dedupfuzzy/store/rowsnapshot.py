"""The row cache packed into a few blobs, for a warm run to read at once.

Reading the row cache (`rowcache`) row by row costs the SQLite module one
Python object per value: 0.3-0.6 s for 100,000 items, a third of a warm
run. So a copy of the whole cache is also kept packed, a few blobs of
`marshal`ed tuples, which read back several times faster. It is a copy of
a cache, never the truth:

- every write to the row cache (`rowsync`: drops and in-place updates;
  `rowcache`'s inserts) notes the ids it wrote as *touched*, in
  the same transaction (`touch`); a reader takes the packed rows of the
  other ids and reads the touched ones from the cache table;
- a run packs the cache again (`repack`) when many ids were touched, so the
  list stays short.

`marshal` is Python's own format for its bytecode files: fast, and safe on
data this module wrote. Its layout may change between Python versions, so
the packed copy is used only by the Python that wrote it (`_SIGNATURE`),
and anything it cannot read is ignored (the cache table is read instead).
"""

from __future__ import annotations

import marshal
import sys
from collections.abc import Iterable, Sequence

from .tables import has_table

PACKED = "dedupfuzzy_rows_packed"
TOUCHED = "dedupfuzzy_rows_touched"
# Rows per blob.
PART = 1 << 15
# Pack again when more than this share of the rows was touched since.
REPACK_SHARE = 1 / 16
REPACK_MIN = 512


def _signature(layout: Sequence[str]) -> bytes:
    """What the packed rows depend on: `marshal`'s version, the Python, and
    the layout (which names what else they depend on: the music folder)."""
    return (
        f"marshal {marshal.version} {sys.implementation.cache_tag} " + "\0".join(layout)
    ).encode("utf-8", "surrogateescape")


def _ensure(tx) -> None:
    tx.script(
        f"CREATE TABLE IF NOT EXISTS {PACKED} (part INTEGER PRIMARY KEY, data BLOB);"
        f"CREATE TABLE IF NOT EXISTS {TOUCHED} (id INTEGER PRIMARY KEY);"
    )


def touch(tx, ids: Iterable[int]) -> None:
    """Note cache rows written (inside the writing transaction); nothing to
    note while no packed copy exists."""
    values = [(i,) for i in set(ids)]
    if not values or not _packed(tx):
        return
    tx.mutate_many(f"INSERT OR IGNORE INTO {TOUCHED} (id) VALUES (?)", values)


def clear(tx) -> None:
    """Forget the packed copy (the cache table was emptied or rebuilt)."""
    if _packed(tx):
        tx.script(f"DELETE FROM {PACKED}; DELETE FROM {TOUCHED};")


def _packed(tx) -> bool:
    return has_table(tx, PACKED) and bool(tx.query(f"SELECT 1 FROM {PACKED} LIMIT 1"))


def read(tx, layout: Sequence[str], width: int) -> tuple[list[tuple], set[int]] | None:
    """The packed rows (tuples of `width` values) and the touched ids, or
    None when there is no usable packed copy of this layout."""
    if not _packed(tx):
        return None
    parts = tx.query(f"SELECT part, data FROM {PACKED} ORDER BY part")
    if not parts or parts[0][0] != 0 or parts[0][1] != _signature(layout):
        return None
    rows: list[tuple] = []
    try:
        for _, data in parts[1:]:
            rows += marshal.loads(data)
        if set(map(len, rows)) - {width}:
            return None
    except (EOFError, ValueError, TypeError):
        return None
    touched = {r[0] for r in tx.query(f"SELECT id FROM {TOUCHED}")}
    return rows, touched


def stale(tx, total: int) -> bool:
    """Whether the packed copy is missing or too many of its `total` rows
    were touched."""
    if not _packed(tx):
        return True
    (count,) = tx.query(f"SELECT count(*) FROM {TOUCHED}")[0]
    return count > max(REPACK_MIN, REPACK_SHARE * total)


def repack(tx, layout: Sequence[str], rows: Sequence[tuple]) -> None:
    """Replace the packed copy by these rows, the whole cache as it now is
    (read in the same transaction)."""
    _ensure(tx)
    tx.script(f"DELETE FROM {PACKED}; DELETE FROM {TOUCHED};")
    values = [(0, _signature(layout))]
    for n, start in enumerate(range(0, len(rows), PART), 1):
        values.append((n, marshal.dumps(list(rows[start : start + PART]))))
    tx.mutate_many(f"INSERT INTO {PACKED} (part, data) VALUES (?, ?)", values)
