"""Keeping the row cache (`rowcache`) in step with the plugin's writes.

Every write of a field the cache holds goes through `recache` in the
writing transaction: the entry is dropped, or updated in place for rows a
run has just checked; the packed copy (`rowsnapshot`) notes each id written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from beets.library import Library

from . import fields, rowsnapshot
from .tables import has_table

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


def recache(
    lib: Library, values: Sequence[tuple[int, str, object]], current: bool
) -> None:
    """Keep cached rows in step with the plugin's own writes (inside the
    writing transaction). Rows not `current` are dropped. For current ones,
    a field the cache holds is updated to what `read_rows` would now read,
    one it does not hold changes nothing, and any other write drops the row;
    one UPDATE per item, whatever it wrote."""
    # The sketch and our copy of the fingerprint are not in the rows.
    values = [v for v in values if v[1] not in (fields.BLOCKS, fields.FP_COPY)]
    if not current:
        uncache(lib, (i for i, _, _ in values))
        return
    changes: dict[int, dict[str, object]] = {}
    dropped: set[int] = set()
    for item_id, key, value in values:
        mtime = fields.as_float(value) if key == fields.FP_MTIME else None
        if key == fields.FINGERPRINT and value:
            changes.setdefault(item_id, {})["has_fingerprint"] = 1
        elif key == fields.FP_MTIME and mtime is not None:
            changes.setdefault(item_id, {}).update(fp_mtime=mtime, has_fingerprint=1)
        elif key in _AS_READ:
            column, convert = _AS_READ[key]
            changes.setdefault(item_id, {})[column] = convert(value)
        else:
            dropped.add(item_id)
    by_columns: dict[tuple[str, ...], list[tuple]] = {}
    for item_id, changed in changes.items():
        if item_id not in dropped:
            columns = tuple(sorted(changed))
            row = (*(changed[c] for c in columns), item_id)
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
    number = fields.as_float(value)
    return None if number is None else int(number)


# The cached column of each plugin field `recache` updates, and how
# `read_rows` reads its stored value (None: the field is absent).
_AS_READ = {
    fields.MATCHED: ("matched", _text),
    fields.RECORDING: ("recording", _recording),
    fields.AUDIO_ID: ("audio_id", _text),
    fields.LOSSLESS: ("lossless", _text),
    fields.CUTOFF: ("cutoff", lambda value: int(fields.as_float(value) or 0)),
    fields.SOURCE: ("source", _text),
}
