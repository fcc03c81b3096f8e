"""Reading and writing the plugin's data in beets' library DB, in bulk.

A run over a large library must not build a beets `Item` per track, so the
few columns matching needs are read with SQL (`fields` names them), and
fingerprints and sketches are written back with `executemany` in one
transaction.

Reading those columns for every item is what a warm run cannot afford:
beets' `items` table starts each row with the fingerprint (4 KB), so a
track's path, length or mtime lie on an overflow page and every row read
costs two or three pages. What a run needs of each item (a `Row` without
fingerprint and sketch) is therefore also kept compactly in the plugin's
own table `dedupfuzzy_rows` (`rowcache`), a cache that is never the truth:
every write here keeps it in step (`rowsync`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

from beets.library import Library

from .fields import (
    AUDIO_ID,
    BLOCKS,
    CUTOFF,
    FINGERPRINT,
    FLEX_FIELDS,
    FP_COPY,
    FP_MTIME,
    LOSSLESS,
    MATCHED,
    PATH_TYPE,
    RECORDING,
    SOURCE,
    Row,
    as_float,
)
from .rowsync import recache

# Ids per `IN (...)` query: below SQLite's limit on bound parameters.
_CHUNK = 900
# Above this many items, `restore_cleared_fingerprints` first lists the items
# that have a copy (one pass over the attributes' keys, not their values).
_FEW_TO_RESTORE = 5000


def id_chunks(ids: Sequence[int]) -> Iterator[tuple[list[int], str]]:
    """Ids a query's worth at a time, with the `?, ?, ...` of an `IN (...)`."""
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        yield chunk, ", ".join("?" * len(chunk))


def load_rows(
    lib: Library,
    ids: Iterable[int] | None = None,
    *,
    fingerprints: bool = True,
    blocks: bool = True,
) -> list[Row]:
    """The rows of the given item ids (all items when None), in id order.

    Without `fingerprints` (or `blocks`) those texts are not read, only
    whether a fingerprint exists: a warm run over a large library needs
    neither. (Even testing the column for emptiness reads every fingerprint,
    so it is tested only for items without our `dedupfuzzy_fp_mtime`: those
    we fingerprinted or adopted have one.)
    """
    return list(read_rows(lib, ids, fingerprints, blocks).values())


def read_rows(
    lib: Library, ids: Iterable[int] | None, fingerprints: bool, blocks: bool
) -> dict[int, Row]:
    """Rows by id."""
    fingerprint = FINGERPRINT if fingerprints else "''"
    keys = (*FLEX_FIELDS, FINGERPRINT) + ((BLOCKS,) if blocks else ())
    columns = (
        "SELECT id, path, length, format, bitrate, bitdepth, samplerate, mtime, "
        f"{fingerprint}, added FROM items"
    )
    flex_query = (
        "SELECT entity_id, key, value FROM item_attributes "
        f"WHERE key IN ({', '.join('?' * len(keys))})"
    )
    base: list = []
    flex: list = []
    wanted = None if ids is None else sorted(set(ids))
    with lib.transaction() as tx:
        if wanted is not None and 2 * len(wanted) > _count(tx):
            # Most of the library (a first run): one pass over the tables
            # costs half as much as looking each item up.
            every = set(wanted)
            base = [r for r in tx.query(columns) if r[0] in every]
            flex = [r for r in tx.query(flex_query, keys) if r[0] in every]
            base.sort(key=lambda r: r[0])
        elif wanted is None:
            base = tx.query(columns + " ORDER BY id")
            flex = tx.query(flex_query, keys)
        else:
            for chunk, marks in id_chunks(wanted):
                base += tx.query(f"{columns} WHERE id IN ({marks})", chunk)
                flex += tx.query(
                    f"{flex_query} AND entity_id IN ({marks})", (*keys, *chunk)
                )
            base.sort(key=lambda r: r[0])
    rows: dict[int, Row] = {}
    for r in base:
        item_id = r[0]
        if not r[1]:  # an item without a path has no file to compare
            continue
        rows[item_id] = Row(
            id=item_id,
            path=PATH_TYPE.from_sql(r[1]),
            length=float(r[2] or 0.0),
            format=r[3] or "",
            bitrate=int(r[4] or 0),
            bitdepth=int(r[5] or 0),
            samplerate=int(r[6] or 0),
            mtime=float(r[7] or 0.0),
            fingerprint=(r[8] or "") if fingerprints else "",
            added=float(r[9] or 0.0),
            has_fingerprint=bool(r[8]),
        )
    for entity_id, key, value in flex:
        row = rows.get(entity_id)
        if row is None:
            continue
        if key == FINGERPRINT:
            # Written as a flexible attribute by plugin versions before the
            # column existed: use it only when the column is empty.
            if not row.has_fingerprint and value:
                row.fingerprint = value if fingerprints else ""
                row.has_fingerprint = True
        elif key == FP_MTIME:
            row.fp_mtime = as_float(value)
        elif key == BLOCKS:
            row.blocks = value or ""
        elif key == MATCHED:
            row.matched = value or ""
        elif key == RECORDING:
            number = as_float(value)
            row.recording = None if number is None else int(number)
        elif key == AUDIO_ID:
            row.audio_id = value or ""
        elif key == LOSSLESS:
            row.lossless = value or ""
        elif key == CUTOFF:
            row.cutoff = int(as_float(value) or 0)
        elif key == SOURCE:
            row.likely_source = value or ""
    if not fingerprints:
        unknown = [i for i, r in rows.items() if r.fp_mtime is None]
        for i in _with_fingerprint(lib, unknown):
            rows[i].has_fingerprint = True
        for row in rows.values():
            row.has_fingerprint = row.has_fingerprint or row.fp_mtime is not None
    return rows


def _with_fingerprint(lib: Library, ids: list[int]) -> set[int]:
    """Which of these items have a fingerprint in beets' column."""
    found: set[int] = set()
    with lib.transaction() as tx:
        for chunk, marks in id_chunks(ids):
            rows = tx.query(
                f"SELECT id FROM items WHERE id IN ({marks}) AND {FINGERPRINT} != ''",
                chunk,
            )
            found.update(r[0] for r in rows)
    return found


def _count(tx) -> int:
    return tx.query("SELECT count(*) FROM items")[0][0]


def database_file(db_path: str | bytes | os.PathLike) -> str | None:
    """The library DB's file (None for a DB in memory, which has none)."""
    path = os.fsdecode(db_path)
    return None if not path or path == ":memory:" else path


def beside_library(lib: Library) -> str | None:
    """The folder of the library DB (None for a DB in memory)."""
    path = database_file(lib.path)
    return None if path is None else os.path.dirname(os.path.abspath(path))


def load_texts(lib: Library, ids: Iterable[int], key: str) -> dict[int, str]:
    """One text field (the fingerprint or a flexible attribute) of some items."""
    wanted = list(ids)
    found: dict[int, str] = {}
    with lib.transaction() as tx:
        for chunk, marks in id_chunks(wanted):
            if key == FINGERPRINT:
                rows = tx.query(
                    f"SELECT id, {FINGERPRINT} FROM items WHERE id IN ({marks})", chunk
                )
                found.update((i, v) for i, v in rows if v)
                missing = [i for i in chunk if i not in found]
                if not missing:
                    continue
                chunk = missing
                marks = ", ".join("?" * len(chunk))
            rows = tx.query(
                "SELECT entity_id, value FROM item_attributes "
                f"WHERE key = ? AND entity_id IN ({marks})",
                (key, *chunk),
            )
            found.update((i, v) for i, v in rows if v)
    return found


def restore_cleared_fingerprints(lib: Library, ids: Iterable[int]) -> None:
    """Put our copy back into `acoustid_fingerprint` where beets emptied it
    (`beet update` of a file without the tag), for us and for chroma.

    Only for the given items: testing the column for emptiness reads the
    whole fingerprint, so it is done for items beets changed (not cached),
    not for the whole library on every run. Of many items (a first run reads
    them all) only those that have a copy are tested.
    """
    ids = list(ids)
    with lib.transaction() as tx:
        if len(ids) > _FEW_TO_RESTORE:
            copied = {
                row[0]
                for row in tx.query(
                    "SELECT entity_id FROM item_attributes WHERE key = ?", (FP_COPY,)
                )
            }
            ids = [i for i in ids if i in copied]
        tx.mutate_many(
            "UPDATE items SET acoustid_fingerprint = ("
            " SELECT value FROM item_attributes"
            " WHERE entity_id = items.id AND key = ?)"
            " WHERE id = ? AND (acoustid_fingerprint IS NULL"
            " OR acoustid_fingerprint = '')"
            " AND EXISTS (SELECT 1 FROM item_attributes"
            " WHERE entity_id = items.id AND key = ? AND value != '')",
            [(FP_COPY, i, FP_COPY) for i in ids],
        )


def copy_fingerprints(lib: Library, ids: Iterable[int]) -> None:
    """Keep our copy of these items' stored fingerprints (one transaction;
    an `IN (...)` query's worth of items per statement: a first run copies
    every fingerprint of the library, a quarter faster than one by one)."""
    with lib.transaction() as tx:
        for chunk, marks in id_chunks(list(ids)):
            tx.mutate(
                "INSERT INTO item_attributes (entity_id, key, value) "
                f"SELECT id, ?, {FINGERPRINT} FROM items "
                f"WHERE id IN ({marks}) AND {FINGERPRINT} != ''",
                (FP_COPY, *chunk),
            )


def delete_flex(
    lib: Library, ids: Iterable[int], key: str, *, current: bool = False
) -> None:
    """Remove one flexible attribute from some items (one transaction);
    `current` as for `store_flex`."""
    ids = list(ids)
    with lib.transaction() as tx:
        tx.mutate_many(
            "DELETE FROM item_attributes WHERE entity_id = ? AND key = ?",
            [(i, key) for i in ids],
        )
        recache(lib, [(i, key, None) for i in ids], current)


def store_flex(
    lib: Library, values: Sequence[tuple[int, str, object]], *, current: bool = False
) -> None:
    """Write (item id, key, value) fields in one transaction.

    The fingerprint goes to beets' `acoustid_fingerprint` column, the rest
    are flexible attributes. The items' cached rows are dropped (read again
    by the next run), unless the caller says they are `current`: read and
    checked against their files by this run (`rowcache.checked`), so only
    the written fields change, and they are updated in place.
    """
    if not values:
        return
    fixed = [(v, i) for i, k, v in values if k == FINGERPRINT]
    flex = [(i, k, v) for i, k, v in values if k != FINGERPRINT]
    with lib.transaction() as tx:
        if fixed:
            tx.mutate_many(
                "UPDATE items SET acoustid_fingerprint = ? WHERE id = ?", fixed
            )
        if flex:
            tx.mutate_many(
                "INSERT INTO item_attributes (entity_id, key, value) VALUES (?, ?, ?)",
                flex,
            )
        recache(lib, values, current)


def load_verdicts(lib: Library) -> dict[int, tuple[str, str]]:
    """Item id -> (lossless verdict, likely source) for the checked items.

    What the keeper needs to rank a copy beyond its columns (`quality`), read
    from the flexible attributes alone: only lossless items carry them.
    """
    found: dict[int, list[str]] = {}
    with lib.transaction() as tx:
        rows = tx.query(
            "SELECT entity_id, key, value FROM item_attributes WHERE key IN (?, ?)",
            (LOSSLESS, SOURCE),
        )
    for item_id, key, value in rows:
        pair = found.setdefault(item_id, ["", ""])
        pair[0 if key == LOSSLESS else 1] = value or ""
    return {item_id: (verdict, source) for item_id, (verdict, source) in found.items()}
