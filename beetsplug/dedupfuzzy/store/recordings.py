"""The recording model: which items are copies of one recording.

Every item with a usable fingerprint carries a flexible attribute
`dedupfuzzy_recording` (an integer): copies of one recording (a clique of
strong matches) share it, an item with no copy has its own. Users query it
as any beets field (`beet ls dedupfuzzy_recording:42`,
`-f '$dedupfuzzy_recording $path'`); the mirror reads it through
`load_recordings`.

The rest of the model:
- `dedupfuzzy_matched` on each item: the token of the settings it was
  matched under. An item without it (new, re-fingerprinted, restored from
  the quarantine) or with another token is *dirty*: the next run (or the
  import hook) matches it again. A run where nothing is dirty matches
  nothing.
- an item that leaves the library (`beet remove`, the quarantine) takes its
  attributes with it; its copies keep their recording (a clique minus one
  is a clique) and its remembered matches are dropped by the next run.
- the remembered matches (`paircache`), the edges groups are made of,
  uncertain pairs included;
- the human answers (`decisions`): pairs that are different recordings.
- a little state: the settings token of the last run and the next free
  recording id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from beets.library import Library

from ..settings import MatchSettings
from . import catalog, paircache
from .fields import MATCHED, RECORDING

STATE = "dedupfuzzy_state"
ALGORITHM = "4"  # 4: endings compared, stretch-length guard, speed errors


def settings_token(settings: MatchSettings) -> str:
    """What a match depends on besides the fingerprints."""
    # Imported here: reading recordings (`beet mirror`) needs no numpy.
    from ..matching.blockindex import INDEX_VERSION

    return (
        f"{ALGORITHM}/{INDEX_VERSION}/{settings.auto_threshold}/"
        f"{settings.ask_threshold}/{settings.length_tolerance}/"
        f"{settings.max_offset}/{settings.min_overlap}"
    )


def load_recordings(lib: Library, ids: Iterable[int] | None = None) -> dict[int, int]:
    """Item id -> recording id; items without one (unmatched) are left out.

    With ``ids``, only those items are read (a few hundred per query).
    """
    query = "SELECT entity_id, value FROM item_attributes WHERE key = ?"
    with lib.transaction() as tx:
        if ids is None:
            rows = tx.query(query, (RECORDING,))
        else:
            wanted, rows = sorted(set(ids)), []
            for at in range(0, len(wanted), 500):
                chunk = wanted[at : at + 500]
                marks = ", ".join("?" * len(chunk))
                rows += tx.query(
                    f"{query} AND entity_id IN ({marks})", (RECORDING, *chunk)
                )
    found = {}
    for item_id, value in rows:
        try:
            found[item_id] = int(value)
        except (TypeError, ValueError):
            continue
    return found


def _ensure(lib: Library) -> None:
    with lib.transaction() as tx:
        tx.script(
            f"CREATE TABLE IF NOT EXISTS {STATE} "
            "(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )


def _state(lib: Library, key: str) -> str | None:
    _ensure(lib)
    with lib.transaction() as tx:
        rows = tx.query(f"SELECT value FROM {STATE} WHERE key = ?", (key,))
    return rows[0][0] if rows else None


def _set_state(tx, key: str, value: str) -> None:
    tx.mutate(
        f"INSERT OR REPLACE INTO {STATE} (key, value) VALUES (?, ?)", (key, value)
    )


class Allocator:
    """Hands out recording ids never used before (kept in the state table)."""

    def __init__(self, lib: Library, in_use: Iterable[int] = ()) -> None:
        stored = _state(lib, "next_recording")
        self.next = max([int(stored or 1), *(r + 1 for r in in_use)])

    def __call__(self) -> int:
        value = self.next
        self.next += 1
        return value


def prepare(lib: Library, settings: MatchSettings) -> str:
    """The current settings token; when it differs from the last run's, every
    remembered match is dropped (every item is dirty anyway)."""
    token = settings_token(settings)
    paircache.ensure(lib)
    if _state(lib, "settings") != token:
        paircache.clear(lib)
        with lib.transaction() as tx:
            _set_state(tx, "settings", token)
    return token


def save(
    lib: Library,
    token: str,
    matched: Iterable[int],
    recordings: Mapping[int, int],
    old: Mapping[int, int | None],
    allocator: Allocator,
    matches: list,
    unmatched: Iterable[int] = (),
    current: bool = False,
) -> None:
    """Store one (re)grouping in one transaction.

    `matched`: the items just matched (their matches are replaced by
    `matches`, their token set); `recordings`: new recording ids, written
    where they changed from `old`; `unmatched`: items that lost theirs
    (silent, or no longer fingerprinted); `current`: the items' cached rows
    were checked by this run (`catalog.store_flex`).
    """
    matched = list(matched)
    with lib.transaction() as tx:
        paircache.replace(lib, matched, matches)
        catalog.store_flex(
            lib,
            [(i, MATCHED, token) for i in matched]
            + [
                (i, RECORDING, str(rec))
                for i, rec in recordings.items()
                if old.get(i) != rec
            ],
            current=current,
        )
        catalog.delete_flex(lib, unmatched, RECORDING, current=current)
        _set_state(tx, "next_recording", str(allocator.next))


def forget(lib: Library, ids: Iterable[int]) -> None:
    """Make items dirty: the next run matches them again (e.g. after undo)."""
    ids = list(ids)
    catalog.delete_flex(lib, ids, MATCHED)
    paircache.forget(lib, ids)
