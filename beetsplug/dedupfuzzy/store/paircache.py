"""Verified matches remembered in the library DB: the edges of the recording model.

Only matches are kept (pairs at or above `ask_threshold`): they are what
groups are made of and what a listing shows (similarity, offset, speed). The one
invalidation rule: an item's remembered matches hold while the item stays
matched (`store.recordings`); whenever an item is matched again (its
fingerprint changed, it came back from the quarantine, the settings
changed) its matches are replaced by the new ones. A match whose items are not both
matched under the current settings is ignored; a removed item's matches
are dropped by the next run that matches anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from beets.library import Library

from .tables import has_table

if TYPE_CHECKING:
    from ..matching.matcher import Match

TABLE = "dedupfuzzy_matches"
# The memo of earlier versions (answers keyed by fingerprint tokens).
OLD_TABLE = "dedupfuzzy_pairs"


def ensure(lib: Library) -> None:
    """Create the table (outside any transaction: a script commits)."""
    with lib.transaction() as tx:
        tx.script(
            f"DROP TABLE IF EXISTS {OLD_TABLE};"
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "a INTEGER NOT NULL, b INTEGER NOT NULL, similarity REAL NOT NULL, "
            "offset REAL NOT NULL, speed REAL NOT NULL DEFAULT 1.0, "
            "PRIMARY KEY (a, b));"
            f"CREATE INDEX IF NOT EXISTS {TABLE}_b ON {TABLE} (b);"
        )
        columns = {row[1] for row in tx.query(f"PRAGMA table_info({TABLE})")}
        if "speed" not in columns:  # a table from before speed was measured
            tx.script(f"ALTER TABLE {TABLE} ADD COLUMN speed REAL NOT NULL DEFAULT 1.0")


def load(lib: Library) -> list[Match]:
    """Every remembered match."""
    # Imported here: reading recordings (`beet mirror`) needs no numpy.
    from ..matching.matcher import Match

    ensure(lib)
    with lib.transaction() as tx:
        rows = tx.query(f"SELECT a, b, similarity, offset, speed FROM {TABLE}")
    return [Match(a, b, sim, off, speed) for a, b, sim, off, speed in rows]


def replace(lib: Library, ids: Iterable[int], matches: Sequence[Match]) -> None:
    """Forget the matches of items matched again, remember the new ones."""
    values = [(m.a, m.b, m.similarity, m.offset, m.speed) for m in matches]
    with lib.transaction() as tx:
        _delete(tx, ids)
        tx.mutate_many(
            f"INSERT OR REPLACE INTO {TABLE} (a, b, similarity, offset, speed) "
            "VALUES (?, ?, ?, ?, ?)",
            values,
        )


def forget(lib: Library, ids: Iterable[int]) -> None:
    """Drop the matches of these items (safe inside any transaction)."""
    with lib.transaction() as tx:
        if has_table(tx, TABLE):
            _delete(tx, ids)


def prune(lib: Library) -> None:
    """Drop the matches of items no longer in the library."""
    with lib.transaction() as tx:
        tx.mutate(
            f"DELETE FROM {TABLE} WHERE a NOT IN (SELECT id FROM items) "
            "OR b NOT IN (SELECT id FROM items)"
        )


def clear(lib: Library) -> None:
    ensure(lib)
    with lib.transaction() as tx:
        tx.mutate(f"DELETE FROM {TABLE}")


def _delete(tx, ids: Iterable[int]) -> None:
    pairs = [(i, i) for i in ids]
    tx.mutate_many(f"DELETE FROM {TABLE} WHERE a = ? OR b = ?", pairs)
