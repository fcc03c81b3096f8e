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
# the lossless check (analysis/): verdict, cutoff in Hz, likely source
LOSSLESS = "dedupfuzzy_lossless"
CUTOFF = "dedupfuzzy_cutoff"
SOURCE = "dedupfuzzy_source"
FLEX_FIELDS = (FP_MTIME, BLOCKS, LOSSLESS, CUTOFF, SOURCE)

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
    lossless: str = ""  # genuine, fake, unknown; "" when not analysed
    cutoff: int = 0
    source: str = ""
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
            "SELECT entity_id, key, value FROM item_attributes WHERE key IN "
            f"({', '.join('?' * (len(FLEX_FIELDS) + 1))})",
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
        elif key == LOSSLESS:
            row.lossless = value or ""
        elif key == CUTOFF:
            row.cutoff = int(_float(value) or 0)
        elif key == SOURCE:
            row.source = value or ""
    return list(rows.values())


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
