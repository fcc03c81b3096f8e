"""Answers a human gave about uncertain pairs, kept in the library DB.

"Keep both" means the two copies are different recordings: the pair is not
shown or asked about again. An answer names its two items by id and by the
time each was added: SQLite gives a removed item's id to the next item added
once every higher id is gone, and that item never inherits the answer (an
answer whose item left, or whose id another item took, is dropped).
"""

from __future__ import annotations

from beets.library import Library

TABLE = "dedupfuzzy_distinct"
# Added times read back from the DB agree to well under this.
_SAME_TIME = 1e-3


def _ensure(lib: Library) -> None:
    with lib.transaction() as tx:
        tx.script(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "a INTEGER NOT NULL, b INTEGER NOT NULL, a_added REAL, b_added REAL, "
            "PRIMARY KEY (a, b))"
        )
        columns = {row[1] for row in tx.query(f"PRAGMA table_info({TABLE})")}
        if "a_added" not in columns:
            tx.script(
                f"ALTER TABLE {TABLE} ADD COLUMN a_added REAL;"
                f"ALTER TABLE {TABLE} ADD COLUMN b_added REAL;"
            )
        # Answers kept before the added times were: the items' current ones
        # (looked for first: most loads write nothing).
        if tx.query(
            f"SELECT 1 FROM {TABLE} WHERE a_added IS NULL OR b_added IS NULL LIMIT 1"
        ):
            for side in ("a", "b"):
                tx.mutate(
                    f"UPDATE {TABLE} SET {side}_added = (SELECT COALESCE(added, 0)"
                    f" FROM items WHERE items.id = {TABLE}.{side})"
                    f" WHERE {side}_added IS NULL"
                )


def load_distinct(lib: Library) -> set[tuple[int, int]]:
    """The pairs (lower id first) a human said are different recordings."""
    _ensure(lib)
    with lib.transaction() as tx:
        # An item that left the library has no added time (NULL).
        found = tx.query(
            "SELECT d.a, d.b, d.a_added, d.b_added,"
            " CASE WHEN ia.id IS NULL THEN NULL ELSE COALESCE(ia.added, 0) END,"
            " CASE WHEN ib.id IS NULL THEN NULL ELSE COALESCE(ib.added, 0) END"
            f" FROM {TABLE} d LEFT JOIN items ia ON ia.id = d.a"
            " LEFT JOIN items ib ON ib.id = d.b"
        )
        void = [
            (a, b)
            for a, b, a_added, b_added, a_now, b_now in found
            if not (_same(a_added, a_now) and _same(b_added, b_now))
        ]
        if void:
            tx.mutate_many(f"DELETE FROM {TABLE} WHERE a = ? AND b = ?", void)
    return {(a, b) for a, b, *_ in found} - set(void)


def mark_distinct(lib: Library, a: int, b: int) -> None:
    _ensure(lib)
    lo, hi = min(a, b), max(a, b)
    with lib.transaction() as tx:
        tx.mutate(
            f"INSERT OR REPLACE INTO {TABLE} (a, b, a_added, b_added) VALUES "
            "(?, ?, (SELECT COALESCE(added, 0) FROM items WHERE id = ?),"
            " (SELECT COALESCE(added, 0) FROM items WHERE id = ?))",
            (lo, hi, lo, hi),
        )


def _same(recorded: float | None, now: float | None) -> bool:
    """Whether an item still is the one the answer was given about."""
    if recorded is None or now is None:  # the item left the library
        return False
    return abs(float(now) - float(recorded)) < _SAME_TIME
