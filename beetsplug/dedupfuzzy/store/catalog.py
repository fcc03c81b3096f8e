"""Reading and writing the plugin's data in beets' library DB, in bulk.

A run over a large library must not build a beets `Item` per track, so the
few columns matching needs are read with SQL, and fingerprints and sketches
are written back with `executemany` in one transaction. The fingerprint
lives in beets' own `acoustid_fingerprint` column (shared with the chroma
plugin); the plugin's other fields are stored exactly as beets stores
flexible attributes, so `beet ls -f '$dedupfuzzy_recording'` and `beet
modify` see them as usual.

Reading those columns for every item is what a warm run cannot afford:
beets' `items` table starts each row with the fingerprint (4 KB), so a
track's path, length or mtime lie on an overflow page and every row read
costs two or three pages. What a run needs of each item (a `Row` without
fingerprint and sketch) is therefore also kept compactly in the plugin's
own table `dedupfuzzy_rows`, a cache that is never the truth: an item's
entry is dropped whenever the plugin writes one of the item's fields, and
read again from beets' tables by the next run (`load_all_rows`), or
updated in place by a run that checked it. A warm run reads the item ids
(cheap: no overflow page) and the cache, and beets' tables only for what
changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from beets.library import Item, Library

from . import rowsnapshot

FINGERPRINT = "acoustid_fingerprint"
FP_MTIME = "dedupfuzzy_fp_mtime"
BLOCKS = "dedupfuzzy_blocks"
# The recording an item is a copy of (shared by its copies), and the token of
# the settings it was matched under ("" or absent: match it again).
RECORDING = "dedupfuzzy_recording"
MATCHED = "dedupfuzzy_matched"
# The file's audio identity when it was fingerprinted (fingerprinting/freshness).
AUDIO_ID = "dedupfuzzy_audio"
# The lossless check (analysis/): verdict, cutoff in Hz, likely source.
LOSSLESS = "dedupfuzzy_lossless"
CUTOFF = "dedupfuzzy_cutoff"
SOURCE = "dedupfuzzy_source"
FLEX_FIELDS = (FP_MTIME, MATCHED, RECORDING, AUDIO_ID, LOSSLESS, CUTOFF, SOURCE)
# Our copy of the fingerprint, never read in bulk: `acoustid_fingerprint` is
# also a tag, and `beet update` empties it for files that do not carry it;
# `restore_cleared_fingerprints` puts the copy back.
FP_COPY = "dedupfuzzy_fingerprint"

PATH_TYPE = Item._fields["path"]
# Ids per `IN (...)` query: below SQLite's limit on bound parameters.
_CHUNK = 900
# Above this many items, `restore_cleared_fingerprints` first lists the items
# that have a copy (one pass over the attributes' keys, not their values).
_FEW_TO_RESTORE = 5000


@dataclass
class Row:
    """One item as the plugin sees it."""

    id: int
    path: bytes
    length: float
    format: str
    bitrate: int
    bitdepth: int
    samplerate: int
    mtime: float
    fingerprint: str = ""
    fp_mtime: float | None = None
    blocks: str = ""
    added: float = 0.0
    lossless: str = ""  # genuine, fake, unknown; "" when not analysed
    cutoff: int = 0
    likely_source: str = ""  # "lossy-128", "aac-320", "upsampled-44100"
    # The decoded `blocks` (a blockindex.Sketch), once something decoded it.
    sketch: object = None
    # Whether the item has a fingerprint (also when it was not read).
    has_fingerprint: bool = False
    matched: str = ""
    recording: int | None = None
    audio_id: str = ""


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


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
    with lib.transaction() as tx:
        if ids is None:
            base = tx.query(columns + " ORDER BY id")
            flex = tx.query(flex_query, keys)
        else:
            wanted = sorted(set(ids))
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
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
            row.fp_mtime = _float(value)
        elif key == BLOCKS:
            row.blocks = value or ""
        elif key == MATCHED:
            row.matched = value or ""
        elif key == RECORDING:
            number = _float(value)
            row.recording = None if number is None else int(number)
        elif key == AUDIO_ID:
            row.audio_id = value or ""
        elif key == LOSSLESS:
            row.lossless = value or ""
        elif key == CUTOFF:
            row.cutoff = int(_float(value) or 0)
        elif key == SOURCE:
            row.likely_source = value or ""
    if not fingerprints:
        unknown = [i for i, r in rows.items() if r.fp_mtime is None]
        for i in _with_fingerprint(lib, unknown):
            rows[i].has_fingerprint = True
        for row in rows.values():
            row.has_fingerprint = row.has_fingerprint or row.fp_mtime is not None
    return rows


# The row cache (`rowcache`): its table, dropped entries.

CACHE = "dedupfuzzy_rows"


def uncache(lib: Library, ids: Iterable[int]) -> None:
    """Drop cached rows: beets or the plugin changed these items."""
    values = [(i,) for i in set(ids)]
    if not values:
        return
    with lib.transaction() as tx:
        if has_table(tx, CACHE):
            tx.mutate_many(f"DELETE FROM {CACHE} WHERE id = ?", values)
            rowsnapshot.touch(tx, (i for (i,) in values))


def has_table(tx, name: str) -> bool:
    """Whether the library DB holds this table (inside a transaction)."""
    return bool(
        tx.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        )
    )


def _with_fingerprint(lib: Library, ids: list[int]) -> set[int]:
    """Which of these items have a fingerprint in beets' column."""
    found: set[int] = set()
    with lib.transaction() as tx:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = tx.query(
                f"SELECT id FROM items WHERE id IN ({marks}) AND {FINGERPRINT} != ''",
                chunk,
            )
            found.update(r[0] for r in rows)
    return found


def load_texts(lib: Library, ids: Iterable[int], key: str) -> dict[int, str]:
    """One text field (the fingerprint or a flexible attribute) of some items."""
    wanted = list(ids)
    found: dict[int, str] = {}
    with lib.transaction() as tx:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
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
    """Keep our copy of these items' stored fingerprints (one transaction)."""
    with lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO item_attributes (entity_id, key, value) "
            f"SELECT id, ?, {FINGERPRINT} FROM items "
            f"WHERE id = ? AND {FINGERPRINT} != ''",
            [(FP_COPY, i) for i in ids],
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
        _recache(lib, [(i, key, None) for i in ids], current)


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
        _recache(lib, values, current)


def _recache(
    lib: Library, values: Sequence[tuple[int, str, object]], current: bool
) -> None:
    """Keep cached rows in step with the plugin's own writes (inside the
    writing transaction). Rows not `current` are dropped. For current ones,
    a field the cache holds is updated to what `read_rows` would now read,
    one it does not hold changes nothing, and any other write drops the row;
    one UPDATE per item, whatever it wrote."""
    # The sketch and our copy of the fingerprint are not in the rows.
    values = [v for v in values if v[1] not in (BLOCKS, FP_COPY)]
    if not current:
        uncache(lib, (i for i, _, _ in values))
        return
    changes: dict[int, dict[str, object]] = {}
    dropped: set[int] = set()
    for item_id, key, value in values:
        mtime = _float(value) if key == FP_MTIME else None
        if key == FINGERPRINT and value:
            changes.setdefault(item_id, {})["has_fingerprint"] = 1
        elif key == FP_MTIME and mtime is not None:
            changes.setdefault(item_id, {}).update(fp_mtime=mtime, has_fingerprint=1)
        elif key in _AS_READ:
            column, convert = _AS_READ[key]
            changes.setdefault(item_id, {})[column] = convert(value)
        else:
            dropped.add(item_id)
    by_columns: dict[tuple[str, ...], list[tuple]] = {}
    for item_id, fields in changes.items():
        if item_id not in dropped:
            columns = tuple(sorted(fields))
            row = (*(fields[c] for c in columns), item_id)
            by_columns.setdefault(columns, []).append(row)
    if by_columns:
        with lib.transaction() as tx:
            if has_table(tx, CACHE):
                for columns, rows in by_columns.items():
                    assigned = ", ".join(f"{c} = ?" for c in columns)
                    tx.mutate_many(f"UPDATE {CACHE} SET {assigned} WHERE id = ?", rows)
                    rowsnapshot.touch(tx, (r[-1] for r in rows))
    uncache(lib, dropped)


def _text(value: object) -> str:
    return value or ""  # type: ignore[return-value]


def _recording(value: object) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


# The cached column of each plugin field `_recache` updates, and how
# `read_rows` reads its stored value (None: the field is absent).
_AS_READ = {
    MATCHED: ("matched", _text),
    RECORDING: ("recording", _recording),
    AUDIO_ID: ("audio_id", _text),
    LOSSLESS: ("lossless", _text),
    CUTOFF: ("cutoff", lambda value: int(_float(value) or 0)),
    SOURCE: ("source", _text),
}


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
