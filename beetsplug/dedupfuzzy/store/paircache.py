"""Verified pairs remembered in the library DB, so a warm run re-checks nothing.

Each answer (a match, or "not alike") is stored with a token of both items'
fingerprints and lengths and of the settings that produced it; it is used
only while all of them are unchanged, so a re-fingerprinted file or a changed
threshold simply makes the pair be checked again.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from beets.library import Library

from ..matching.blockindex import INDEX_VERSION
from ..matching.matcher import Match
from ..settings import MatchSettings
from .catalog import Row

TABLE = "dedupfuzzy_pairs"
ALGORITHM = "2"  # 2: ends compared, stretch-length guard, speed


def settings_token(settings: MatchSettings) -> str:
    return (
        f"{ALGORITHM}/{INDEX_VERSION}/{settings.ask_threshold}/"
        f"{settings.length_tolerance}/{settings.max_offset}/{settings.min_overlap}"
    )


def item_token(row: Row) -> str:
    crc = zlib.crc32(row.fingerprint.encode("ascii", "replace"))
    return f"{crc:08x}:{row.length:.2f}"


def _ensure(lib: Library) -> None:
    with lib.transaction() as tx:
        tx.script(
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            "a INTEGER NOT NULL, b INTEGER NOT NULL, token TEXT NOT NULL, "
            "similarity REAL, offset REAL, PRIMARY KEY (a, b))"
        )
        columns = {row[1] for row in tx.query(f"PRAGMA table_info({TABLE})")}
        if "speed" not in columns:  # a table from before speed was measured
            tx.script(f"ALTER TABLE {TABLE} ADD COLUMN speed REAL")


def _pair_token(a: Row, b: Row, settings: MatchSettings) -> str:
    return f"{item_token(a)}|{item_token(b)}|{settings_token(settings)}"


def load(
    lib: Library, rows: Mapping[int, Row], settings: MatchSettings
) -> dict[frozenset[int], Match | None]:
    """The remembered answers that still hold for these rows and settings."""
    _ensure(lib)
    with lib.transaction() as tx:
        stored = tx.query(f"SELECT a, b, token, similarity, offset, speed FROM {TABLE}")
    known: dict[frozenset[int], Match | None] = {}
    for a, b, token, similarity, offset, speed in stored:
        ra, rb = rows.get(a), rows.get(b)
        if ra is None or rb is None or token != _pair_token(ra, rb, settings):
            continue
        known[frozenset((a, b))] = (
            None
            if similarity is None
            else Match(a, b, similarity, offset, speed if speed is not None else 1.0)
        )
    return known


def store(
    lib: Library,
    answers: Mapping[frozenset[int], Match | None],
    rows: Mapping[int, Row],
    settings: MatchSettings,
) -> None:
    """Remember newly computed answers (one transaction)."""
    values = []
    for key, match in answers.items():
        a, b = (match.a, match.b) if match is not None else tuple(sorted(key))
        ra, rb = rows.get(a), rows.get(b)
        if ra is None or rb is None:
            continue
        token = _pair_token(ra, rb, settings)
        sim = None if match is None else match.similarity
        off = None if match is None else match.offset
        speed = None if match is None else match.speed
        values.append((a, b, token, sim, off, speed))
    if not values:
        return
    _ensure(lib)
    with lib.transaction() as tx:
        tx.mutate_many(
            f"INSERT OR REPLACE INTO {TABLE} "
            "(a, b, token, similarity, offset, speed) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )
