"""Answers a human gave about uncertain pairs, kept in the library DB.

"Keep both" means the two copies are different recordings: the pair is not
shown or asked about again.
"""

from __future__ import annotations

from beets.library import Library

TABLE = "dedupfuzzy_distinct"


def _ensure(lib: Library) -> None:
    with lib.transaction() as tx:
        tx.script(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))"
        )


def load_distinct(lib: Library) -> set[tuple[int, int]]:
    _ensure(lib)
    with lib.transaction() as tx:
        return {(a, b) for a, b in tx.query(f"SELECT a, b FROM {TABLE}")}


def mark_distinct(lib: Library, a: int, b: int) -> None:
    _ensure(lib)
    lo, hi = min(a, b), max(a, b)
    with lib.transaction() as tx:
        tx.mutate(f"INSERT OR IGNORE INTO {TABLE} (a, b) VALUES (?, ?)", (lo, hi))
