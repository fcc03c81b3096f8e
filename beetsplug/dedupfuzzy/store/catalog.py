"""Reading and writing the plugin's data in beets' library DB, in bulk.

A run over a large library must not build a beets `Item` per track, so the
few columns matching needs are read with two SQL queries, and fingerprints
and sketches are written back with `executemany` in one transaction. The
fingerprint lives in beets' own `acoustid_fingerprint` column (shared with the
chroma plugin); the plugin's other fields are stored exactly as beets stores
flexible attributes, so `beet ls -f '$dedupfuzzy_blocks'` and `beet modify`
see them as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from beets.library import Item, Library

FINGERPRINT = "acoustid_fingerprint"
FP_MTIME = "dedupfuzzy_fp_mtime"
BLOCKS = "dedupfuzzy_blocks"
# The file's audio identity when it was fingerprinted (fingerprinting/freshness).
AUDIO_ID = "dedupfuzzy_audio"
# Our copy of the fingerprint: `acoustid_fingerprint` is also a tag, and
# `beet update` resets it from files that do not carry it.
FP_COPY = "dedupfuzzy_fingerprint"
FLEX_FIELDS = (FP_MTIME, BLOCKS, AUDIO_ID, FP_COPY)

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
    added: float = 0.0
    audio_id: str = ""
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
            "SELECT id, path, length, format, bitrate, bitdepth, samplerate, mtime, "
            "acoustid_fingerprint, added FROM items ORDER BY id"
        )
        flex = tx.query(
            "SELECT entity_id, key, value FROM item_attributes "
            "WHERE key IN (?, ?, ?, ?, ?)",
            (*FLEX_FIELDS, FINGERPRINT),
        )
    rows: dict[int, Row] = {}
    for r in base:
        item_id = r[0]
        if wanted is not None and item_id not in wanted:
            continue
        if not r[1]:  # an item without a path has no file to compare
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
            fingerprint=r[8] or "",
            added=float(r[9] or 0.0),
        )
    for entity_id, key, value in flex:
        row = rows.get(entity_id)
        if row is None:
            continue
        if key == FINGERPRINT:
            # Written as a flexible attribute by plugin versions before the
            # column existed: use it only when the column is empty.
            row.fingerprint = row.fingerprint or value or ""
        elif key == FP_MTIME:
            row.fp_mtime = _float(value)
        elif key == BLOCKS:
            row.blocks = value or ""
        elif key == AUDIO_ID:
            row.audio_id = value or ""
        elif key == FP_COPY and value:
            # Ours, the one `fp_mtime` and `audio_id` describe.
            row.fingerprint = value
    return list(rows.values())


def restore_cleared_fingerprints(lib: Library) -> None:
    """Put our copy back into `acoustid_fingerprint` where beets emptied it
    (`beet update` of a file without the tag), for us and for chroma."""
    with lib.transaction() as tx:
        tx.mutate(
            "UPDATE items SET acoustid_fingerprint = ("
            " SELECT value FROM item_attributes"
            " WHERE entity_id = items.id AND key = ?)"
            " WHERE (acoustid_fingerprint IS NULL OR acoustid_fingerprint = '')"
            " AND EXISTS (SELECT 1 FROM item_attributes"
            " WHERE entity_id = items.id AND key = ? AND value != '')",
            (FP_COPY, FP_COPY),
        )


def store_flex(lib: Library, values: Sequence[tuple[int, str, object]]) -> None:
    """Write (item id, key, value) fields in one transaction.

    The fingerprint goes to beets' `acoustid_fingerprint` column, the rest
    are flexible attributes.
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
