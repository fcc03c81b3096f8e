"""Reading and writing the plugin's data in beets' library DB, in bulk.

A run over a large library must not build a beets `Item` per track, so the
few columns matching needs are read with two SQL queries, and fingerprints
and sketches are written back with `executemany` in one transaction. The
values are stored exactly as beets stores flexible attributes, so
`beet ls -f '$dedupfuzzy_blocks'`, `beet modify` and the chroma plugin see
them as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from beets.library import Item, Library

FINGERPRINT = "acoustid_fingerprint"
FP_MTIME = "dedupfuzzy_fp_mtime"
BLOCKS = "dedupfuzzy_blocks"
FLEX_FIELDS = (FINGERPRINT, FP_MTIME, BLOCKS)

_PATH_TYPE = Item._fields["path"]


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
    # The decoded `blocks` (a blockindex.Sketch), once something decoded it.
    sketch: object = None


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def load_rows(lib: Library, ids: Iterable[int] | None = None) -> list[Row]:
    """The rows of the given item ids (all items when None), in id order."""
    wanted = None if ids is None else set(ids)
    with lib.transaction() as tx:
        base = tx.query(
            "SELECT id, path, length, format, bitrate, bitdepth, samplerate, mtime "
            "FROM items ORDER BY id"
        )
        flex = tx.query(
            "SELECT entity_id, key, value FROM item_attributes WHERE key IN (?, ?, ?)",
            FLEX_FIELDS,
        )
    rows: dict[int, Row] = {}
    for r in base:
        item_id = r[0]
        if wanted is not None and item_id not in wanted:
            continue
        rows[item_id] = Row(
            id=item_id,
            path=_PATH_TYPE.from_sql(r[1]),
            length=float(r[2] or 0.0),
            format=r[3] or "",
            bitrate=int(r[4] or 0),
            bitdepth=int(r[5] or 0),
            samplerate=int(r[6] or 0),
            mtime=float(r[7] or 0.0),
        )
    for entity_id, key, value in flex:
        row = rows.get(entity_id)
        if row is None:
            continue
        if key == FINGERPRINT:
            row.fingerprint = value or ""
        elif key == FP_MTIME:
            row.fp_mtime = _float(value)
        elif key == BLOCKS:
            row.blocks = value or ""
    return list(rows.values())


def store_flex(lib: Library, values: Sequence[tuple[int, str, object]]) -> None:
    """Write (item id, key, value) flexible attributes in one transaction."""
    if not values:
        return
    with lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO item_attributes (entity_id, key, value) VALUES (?, ?, ?)",
            [(i, k, v) for i, k, v in values],
        )
