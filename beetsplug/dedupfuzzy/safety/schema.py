"""The journal's tables, its entries, and the snapshots of removed items.

The journal lives in the beets library database itself (tables
``dedupfuzzy_runs`` and ``dedupfuzzy_journal``), so that recording a move
and removing the item from the library are one SQLite transaction.

Every write that reads first goes through `atomic`, which takes SQLite's
write lock up front (``BEGIN IMMEDIATE``): a transaction that read first
and asked for the write lock later would fail at once with "database is
locked" when another process writes, instead of waiting out beets'
`timeout` like any other busy database.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import dbcore, util
from beets.library import Album, Item

from ..display import shown

if TYPE_CHECKING:
    from beets.dbcore.db import Model, Transaction
    from beets.library import Library

TABLE = "dedupfuzzy_journal"
RUNS_TABLE = "dedupfuzzy_runs"

QUARANTINE = "quarantine"
PENDING = "pending"
MOVED = "moved"
UNDOING = "undoing"
UNDONE = "undone"
REVERTED = "reverted"

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started REAL NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        action TEXT NOT NULL,
        src BLOB NOT NULL,
        dst BLOB NOT NULL,
        state TEXT NOT NULL,
        item_id INTEGER NOT NULL,
        item_data TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        undo_path BLOB,
        restored_id INTEGER)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_state ON {TABLE} (state)",
)
DATA_VERSION = 1


class JournalError(OSError):
    """A journalled operation that failed; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class JournalEntry:
    """One journalled move, as stored."""

    id: int
    run_id: int
    seq: int
    action: str
    src: bytes
    dst: bytes
    state: str
    item_id: int
    item_data: str
    created: float
    undo_path: bytes | None
    restored_id: int | None

    @property
    def data(self) -> dict[str, Any]:
        """The snapshot of the item (and emptied album) taken at removal."""
        return json.loads(self.item_data)


@dataclass(frozen=True)
class RunSummary:
    """A run and how many of its entries are in each state."""

    run_id: int
    started: float
    states: dict[str, int]


def exists(path: bytes) -> bool:
    return os.path.lexists(util.syspath(path))


# Snapshots: every field of an item (or album), JSON-safe and typed.


def _encode(value: Any, model: Model, key: str) -> Any:
    """Make a field value JSON-safe without losing its type."""
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [_encode(v, model, key) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    # Anything exotic is kept as beets would store it in SQLite.
    return {"$sql": _encode(model._type(key).to_sql(value), model, key)}


def _decode(value: Any, model_cls: type[Model], key: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, model_cls, key) for v in value]
    if isinstance(value, dict):
        if "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        if "$sql" in value:
            raw = _decode(value["$sql"], model_cls, key)
            return model_cls._type(key).from_sql(raw)
    return value


def snapshot(model: Item | Album) -> dict[str, Any]:
    """Return all fixed and flexible fields of an item or album, JSON-safe.

    Item fields do not fall back to the album's; paths are absolute.
    """
    keys = dbcore.Model.keys(model)
    return {key: _encode(model.get(key), model, key) for key in sorted(keys)}


def values(model_cls: type[Model], data: dict[str, Any]) -> dict[str, Any]:
    """The field values of a snapshot, with their types back."""
    return {key: _decode(value, model_cls, key) for key, value in data.items()}


# Storage.


def create_tables(lib: Library) -> None:
    with lib.transaction() as tx:
        for statement in _DDL:
            tx.mutate(statement)


@contextmanager
def atomic(lib: Library) -> Iterator[Transaction]:
    """One SQLite write transaction that commits fully or not at all.

    ``BEGIN IMMEDIATE`` waits (up to beets' `timeout`) for the write lock
    before anything is read. beets' `Transaction` commits even when its
    block raises; the rollback makes a failed block leave no trace.
    """
    with lib.transaction() as tx:
        _begin_immediate(tx)
        try:
            yield tx
        except BaseException:
            with suppress(sqlite3.Error):
                tx.mutate("ROLLBACK")
            raise


def _begin_immediate(tx: Transaction, mode: str = "IMMEDIATE") -> None:
    """Take the write lock; refuse inside a caller's open transaction.

    The journal must be committed before a file moves; inside an outer
    transaction the commit would wait until that one ends. SQLite itself
    says so: a BEGIN inside an open transaction fails.
    """
    try:
        tx.mutate(f"BEGIN {mode}")
    except sqlite3.OperationalError as exc:
        if "within a transaction" in str(exc):
            raise RuntimeError(
                "the journal cannot run inside an open transaction"
            ) from exc
        raise


def check_outermost(lib: Library) -> None:
    """Refuse to run inside a caller's open transaction (see `atomic`)."""
    with lib.transaction() as tx:
        _begin_immediate(tx, "DEFERRED")  # takes no lock
        tx.mutate("ROLLBACK")


def start_run(lib: Library) -> int:
    with lib.transaction() as tx:
        run_id = tx.mutate(
            f"INSERT INTO {RUNS_TABLE} (started) VALUES (?)", (time.time(),)
        )
    assert run_id is not None
    return run_id


def insert_entry(
    tx: Transaction,
    run_id: int,
    src: bytes,
    dst: bytes,
    item_id: int,
    data: dict[str, Any],
) -> int:
    seq = tx.query(
        f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {TABLE} WHERE run_id = ?",
        (run_id,),
    )[0][0]
    now = time.time()
    entry_id = tx.mutate(
        f"INSERT INTO {TABLE} (run_id, seq, action, src, dst, state, "
        "item_id, item_data, created, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            seq,
            QUARANTINE,
            src,
            dst,
            PENDING,
            item_id,
            json.dumps(data, sort_keys=True),
            now,
            now,
        ),
    )
    assert entry_id is not None
    return entry_id


def update(
    lib: Library, entry_id: int, tx: Transaction | None = None, **columns: Any
) -> None:
    """Set columns of one entry, committed now unless `tx` is given."""
    columns["updated"] = time.time()
    assignments = ", ".join(f"{name} = ?" for name in columns)
    statement = f"UPDATE {TABLE} SET {assignments} WHERE id = ?"
    row = (*columns.values(), entry_id)
    if tx is not None:
        tx.mutate(statement, row)
        return
    with lib.transaction() as own:
        own.mutate(statement, row)


def entry(lib: Library, entry_id: int) -> JournalEntry:
    return select(lib, "id = ?", (entry_id,))[0]


def select(lib: Library, where: str, args: tuple[Any, ...]) -> list[JournalEntry]:
    with lib.transaction() as tx:
        rows = tx.query(
            "SELECT id, run_id, seq, action, src, dst, state, item_id, "
            "item_data, created, undo_path, restored_id "
            f"FROM {TABLE} WHERE {where}",
            args,
        )
    return [
        JournalEntry(
            id=row[0],
            run_id=row[1],
            seq=row[2],
            action=row[3],
            src=bytes(row[4]),
            dst=bytes(row[5]),
            state=row[6],
            item_id=row[7],
            item_data=row[8],
            created=row[9],
            undo_path=bytes(row[10]) if row[10] is not None else None,
            restored_id=row[11],
        )
        for row in rows
    ]


def runs(lib: Library) -> list[RunSummary]:
    """Return every run, oldest first, with its entry counts by state."""
    with lib.transaction() as tx:
        run_rows = tx.query(f"SELECT id, started FROM {RUNS_TABLE} ORDER BY id")
        counts = tx.query(
            f"SELECT run_id, state, COUNT(*) FROM {TABLE} GROUP BY run_id, state"
        )
    states: dict[int, dict[str, int]] = {}
    for run_id, state, count in counts:
        states.setdefault(run_id, {})[state] = count
    return [RunSummary(r[0], r[1], states.get(r[0], {})) for r in run_rows]


def run_exists(tx: Transaction, run_id: int) -> bool:
    return bool(tx.query(f"SELECT 1 FROM {RUNS_TABLE} WHERE id = ?", (run_id,)))


def unsettled(lib: Library) -> list[JournalEntry]:
    """Entries whose move was interrupted, oldest first."""
    return select(lib, "state IN (?, ?) ORDER BY id", (PENDING, UNDOING))


def show(path: bytes | None) -> str:
    return shown(path)
