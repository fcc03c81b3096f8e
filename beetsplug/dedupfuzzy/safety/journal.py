"""The move journal: every quarantine move is recorded before it happens.

The journal lives in the beets library database itself (tables
``dedupfuzzy_runs`` and ``dedupfuzzy_journal``), so that recording a move
and removing the item from the library are one SQLite transaction.

Quarantining one item:

1. In one transaction: snapshot the item (all fixed and flexible fields, and
   its album's fields if removing the item empties the album), insert a
   ``pending`` entry naming the exact destination, and remove the item.
2. Move the file to exactly that destination (`safemove.move_exact`). If the
   name got taken meanwhile, a new free name is committed to the entry
   *before* the next attempt, so the entry always names the one place where
   the file can be.
3. Mark the entry ``moved``.

Undoing one entry mirrors it: commit ``undoing`` with the exact path the
file goes back to, move the file, then restore the item (same id) and mark
the entry ``undone`` in one transaction.

Because the entry always names both ends of the one move in flight, recovery
after an interruption is never a guess: whichever end holds the file decides
whether the move is finished (``moved`` / ``undone``) or reverted
(``reverted`` / back to ``moved``). If both ends hold the same file (a hard
link, or a complete fsynced copy across filesystems) the move is finished;
if the destination holds some other file, the move is reverted. The library
therefore only ever points at files that exist, and no step deletes the last
copy of anything.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import dbcore, util
from beets.library import Album, Item

from . import safemove

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

_SCHEMA = (
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
_DATA_VERSION = 1
_MAX_ATTEMPTS = 100


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
class UndoResult:
    """What happened to one entry during an undo (or its recovery)."""

    entry_id: int
    run_id: int
    src: bytes
    restored_to: bytes | None
    item_id: int | None
    message: str

    @property
    def ok(self) -> bool:
        """Whether the file is back in the library."""
        return self.restored_to is not None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RunSummary:
    """A run and how many of its entries are in each state."""

    run_id: int
    started: float
    states: dict[str, int]


@dataclass(frozen=True)
class _Settled:
    """The outcome of settling one interrupted entry."""

    entry: JournalEntry
    state: str
    restored_to: bytes | None
    item_id: int | None
    message: str


def _show(path: bytes | None) -> str:
    return util.displayable_path(path or b"")


def _exists(path: bytes) -> bool:
    return os.path.lexists(util.syspath(path))


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


def _values(model_cls: type[Model], data: dict[str, Any]) -> dict[str, Any]:
    return {key: _decode(value, model_cls, key) for key, value in data.items()}


class Journal:
    """Journalled, undoable quarantine moves for one beets library."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.last_recovery: list[str] = []
        with lib.transaction() as tx:
            for statement in _SCHEMA:
                tx.mutate(statement)

    # Runs.

    def start_run(self) -> int:
        """Settle interrupted work, then open a new run and return its id.

        What recovery did is kept in `last_recovery`.
        """
        self.last_recovery = self.recover()
        with self.lib.transaction() as tx:
            run_id = tx.mutate(
                f"INSERT INTO {RUNS_TABLE} (started) VALUES (?)", (time.time(),)
            )
        assert run_id is not None
        return run_id

    def runs(self) -> list[RunSummary]:
        """Return every run, oldest first, with its entry counts by state."""
        with self.lib.transaction() as tx:
            runs = tx.query(f"SELECT id, started FROM {RUNS_TABLE} ORDER BY id")
            counts = tx.query(
                f"SELECT run_id, state, COUNT(*) FROM {TABLE} GROUP BY run_id, state"
            )
        states: dict[int, dict[str, int]] = {}
        for run_id, state, count in counts:
            states.setdefault(run_id, {})[state] = count
        return [RunSummary(r[0], r[1], states.get(r[0], {})) for r in runs]

    def last_run(self) -> int | None:
        """Return the newest run that still has files in quarantine."""
        with self.lib.transaction() as tx:
            rows = tx.query(
                f"SELECT MAX(run_id) FROM {TABLE} WHERE state = ?", (MOVED,)
            )
        return rows[0][0] if rows else None

    def entries(self, run_id: int | None = None) -> list[JournalEntry]:
        """Return the entries of one run (or all), oldest first."""
        if run_id is None:
            return self._select("1 ORDER BY id", ())
        return self._select("run_id = ? ORDER BY id", (run_id,))

    # Quarantine.

    def quarantine(self, run_id: int, item: Item, dst: bytes) -> bytes:
        """Remove `item` from the library and move its file to `dst`.

        `dst` is a wish: the file goes to the first free variant of it,
        which is returned. On failure the item is put back as it was and a
        `JournalError` (an `OSError`) is raised.
        """
        with self.lib.music_dir_context():
            return self._quarantine(run_id, item, dst)

    def _quarantine(self, run_id: int, item: Item, dst: bytes) -> bytes:
        if item.id is None:
            raise ValueError("only an item of the library can be quarantined")
        self._check_outermost()
        target = safemove.free_destination(dst)
        with self._atomic() as tx:
            if not tx.query(f"SELECT 1 FROM {RUNS_TABLE} WHERE id = ?", (run_id,)):
                raise ValueError(f"no journal run {run_id}; use start_run()")
            current = self.lib.get_item(item.id)
            if current is None:
                raise JournalError(f"item {item.id} is no longer in the library")
            src = current.path
            if not _exists(src):
                raise JournalError(
                    f"{_show(src)} does not exist; item left in the library"
                )
            data = self._remove_item(current)
            entry_id = self._insert_entry(tx, run_id, src, target, current.id, data)

        try:
            final = self._move_exactly(
                entry_id, src, target, retarget=lambda: safemove.free_destination(dst)
            )
        except Exception as exc:
            settled = self._settle_after_failure(entry_id, exc)
            if settled.state == MOVED:
                return self._entry(entry_id).dst
            raise JournalError(
                f"{_show(src)} not moved ({exc}); item kept in the library"
            ) from exc
        except BaseException as exc:
            self._settle_after_failure(entry_id, exc)
            raise

        self._update(entry_id, state=MOVED)
        return final

    def _remove_item(self, item: Item) -> dict[str, Any]:
        """Remove the item (its album too, if emptied); return the snapshot."""
        album = item.get_album()
        data: dict[str, Any] = {
            "version": _DATA_VERSION,
            "item": snapshot(item),
            "album_ref": None,
            "album": None,
        }
        if album is not None:
            data["album_ref"] = {"id": album.id, "added": album.added}
            album_data = snapshot(album)
        item.remove(delete=False, with_album=True)
        if album is not None and self.lib.get_album(album.id) is None:
            data["album"] = album_data
        return data

    def _move_exactly(
        self,
        entry_id: int,
        src: bytes,
        target: bytes,
        retarget: Callable[[], bytes],
        column: str = "dst",
    ) -> bytes:
        """Move to the recorded target; record a new one before each retry."""
        for _ in range(_MAX_ATTEMPTS):
            try:
                safemove.move_exact(src, target)
            except safemove.DestinationTaken:
                target = retarget()
                self._update(entry_id, **{column: target})
                continue
            return target
        raise JournalError(f"no free name for {_show(target)}")

    def _settle_after_failure(self, entry_id: int, exc: BaseException) -> _Settled:
        """Revert a move that raised; if even that fails, leave it journalled."""
        try:
            return self._settle(self._entry(entry_id), finish=False)
        except Exception as settle_exc:
            raise JournalError(
                f"move failed ({exc}) and could not be reverted ({settle_exc}); "
                "the next run or undo will settle it"
            ) from exc

    # Recovery.

    def recover(self) -> list[str]:
        """Finish or revert every interrupted move; say what was done."""
        return [settled.message for settled in self._recover()]

    def _recover(self) -> list[_Settled]:
        with self.lib.music_dir_context():
            self._check_outermost()
            results = []
            for entry in self._select(
                "state IN (?, ?) ORDER BY id", (PENDING, UNDOING)
            ):
                try:
                    results.append(self._settle(entry, finish=True))
                except Exception as exc:
                    results.append(
                        _Settled(
                            entry,
                            entry.state,
                            None,
                            None,
                            f"could not settle journal entry {entry.id} "
                            f"({_show(entry.src)}): {exc}",
                        )
                    )
            return results

    def _settle(self, entry: JournalEntry, finish: bool) -> _Settled:
        """Bring one in-flight entry to a final state, by where its file is.

        `finish` chooses, when both ends hold the same file, between
        completing the move (recovery) and reverting it (a failed attempt).
        """
        if entry.state == PENDING:
            origin, target = entry.src, entry.dst
        elif entry.state == UNDOING and entry.undo_path is not None:
            origin, target = entry.dst, entry.undo_path
        else:
            return _Settled(entry, entry.state, None, None, "nothing to settle")

        at_origin, at_target = _exists(origin), _exists(target)
        partials = safemove.leftover_partials(target)
        # Both ends can hold the file only if the target is our own hard link
        # of the origin, or our copy whose temporary name is still linked.
        ours = at_target and (
            safemove.same_file(origin, target)
            or any(safemove.same_file(p, target) for p in partials)
        )
        if at_origin or ours:
            for partial in partials:
                with suppress(OSError):
                    os.unlink(util.syspath(partial))

        if at_origin and at_target:
            if not ours:
                return self._roll_back(entry, stray=target)
            if finish:
                try:
                    os.unlink(util.syspath(origin))
                except OSError:
                    pass
                else:
                    return self._roll_forward(entry)
            with suppress(OSError):
                os.unlink(util.syspath(target))
            return self._roll_back(entry)
        if at_origin:
            return self._roll_back(entry)
        if at_target:
            return self._roll_forward(entry)
        leftovers = "".join(f"; partial copy kept: {_show(p)}" for p in partials)
        return _Settled(
            entry,
            entry.state,
            None,
            None,
            f"file missing at both {_show(origin)} and {_show(target)}; "
            f"journal entry {entry.id} left {entry.state}{leftovers}",
        )

    def _roll_back(self, entry: JournalEntry, stray: bytes | None = None) -> _Settled:
        """The file is at the origin of the in-flight move: undo the step.

        `stray` names a file found at the target that is not provably ours;
        it is left alone and mentioned.
        """
        notes = [f"{_show(stray)} was already there, left untouched"] if stray else []
        if entry.state == UNDOING:
            self._update(entry.id, state=MOVED, undo_path=None)
            line = f"{_show(entry.dst)} stays in quarantine (not put back)"
            return _Settled(entry, MOVED, None, None, "; ".join([line, *notes]))
        with self._atomic() as tx:
            item_id, restore_notes = self._restore(tx, entry, entry.src)
            self._update(entry.id, tx=tx, state=REVERTED, restored_id=item_id)
        line = f"{_show(entry.src)} stays in the library (not moved)"
        return _Settled(
            entry,
            REVERTED,
            entry.src,
            item_id,
            "; ".join([line, *notes, *restore_notes]),
        )

    def _roll_forward(self, entry: JournalEntry) -> _Settled:
        """The file is at the target of the in-flight move: finish the step."""
        if entry.state == PENDING:
            self._update(entry.id, state=MOVED)
            return _Settled(
                entry,
                MOVED,
                None,
                None,
                f"finished moving {_show(entry.src)} to {_show(entry.dst)}",
            )
        assert entry.undo_path is not None
        with self._atomic() as tx:
            item_id, notes = self._restore(tx, entry, entry.undo_path)
            self._update(entry.id, tx=tx, state=UNDONE, restored_id=item_id)
        return _Settled(
            entry,
            UNDONE,
            entry.undo_path,
            item_id,
            "; ".join([_restored_line(entry, entry.undo_path), *notes]),
        )

    # Undo.

    def undo(self, all_runs: bool = False) -> list[UndoResult]:
        """Put back what the last run (or every run) moved, newest first.

        Interrupted work is settled first and reported in the results too.
        A quarantined file that is missing is reported and left journalled.
        """
        with self.lib.music_dir_context():
            results = [
                UndoResult(
                    s.entry.id,
                    s.entry.run_id,
                    s.entry.src,
                    s.restored_to,
                    s.item_id,
                    s.message,
                )
                for s in self._recover()
            ]
            if all_runs:
                entries = self._select(
                    "state = ? ORDER BY run_id DESC, seq DESC, id DESC", (MOVED,)
                )
            else:
                run_id = self.last_run()
                entries = self._select(
                    "state = ? AND run_id = ? ORDER BY seq DESC, id DESC",
                    (MOVED, run_id),
                )
            for entry in entries:
                try:
                    results.append(self._undo_entry(entry))
                except Exception as exc:
                    results.append(
                        UndoResult(
                            entry.id,
                            entry.run_id,
                            entry.src,
                            None,
                            None,
                            f"could not restore {_show(entry.src)} ({exc}); the next "
                            "run or undo will settle it",
                        )
                    )
            return results

    def _undo_entry(self, entry: JournalEntry) -> UndoResult:
        def result(
            restored_to: bytes | None, item_id: int | None, message: str
        ) -> UndoResult:
            return UndoResult(
                entry.id, entry.run_id, entry.src, restored_to, item_id, message
            )

        if not _exists(entry.dst):
            return result(
                None,
                None,
                f"quarantined file missing: {_show(entry.dst)} "
                f"(not restored to {_show(entry.src)})",
            )
        target = safemove.free_destination(entry.src)
        self._update(entry.id, state=UNDOING, undo_path=target)
        try:
            target = self._move_exactly(
                entry.id,
                entry.dst,
                target,
                retarget=lambda: safemove.free_destination(entry.src),
                column="undo_path",
            )
        except Exception as exc:
            settled = self._settle_after_failure(entry.id, exc)
            if settled.state != UNDONE:
                return result(
                    None, None, f"could not restore {_show(entry.src)}: {exc}"
                )
            return result(settled.restored_to, settled.item_id, settled.message)
        except BaseException as exc:
            self._settle_after_failure(entry.id, exc)
            raise
        settled = self._roll_forward(self._entry(entry.id))
        return result(settled.restored_to, settled.item_id, settled.message)

    # Restoring library rows.

    def _restore(
        self, tx: Transaction, entry: JournalEntry, path: bytes
    ) -> tuple[int, list[str]]:
        """Re-create the entry's item (and album) with its ids; return item id."""
        data = entry.data
        notes: list[str] = []
        values = _values(Item, data["item"])
        values["path"] = path
        album_id, album_note = self._resolve_album(tx, data)
        values["album_id"] = album_id
        if album_note:
            notes.append(album_note)
        item_id = self._insert_model(tx, Item, values, entry.item_id)
        if item_id != entry.item_id:
            notes.append(f"item id {entry.item_id} is taken, now id {item_id}")
        return item_id, notes

    def _resolve_album(
        self, tx: Transaction, data: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        """Find or re-create the item's album; return its id and a note."""
        ref = data.get("album_ref")
        if ref is None:
            return None, None
        album = self.lib.get_album(ref["id"])
        if album is not None and album.added == ref["added"]:
            return album.id, None
        # SQLite can reuse a deleted album's id: look for ours elsewhere.
        if ref["added"]:
            query = dbcore.MatchQuery("added", ref["added"])
            for other in self.lib.albums(query):
                return other.id, None
        if data.get("album") is None:
            return None, f"album {ref['id']} no longer exists, item is a singleton"
        values = _values(Album, data["album"])
        album_id = self._insert_model(tx, Album, values, ref["id"])
        if album_id != ref["id"]:
            return album_id, f"album id {ref['id']} is taken, now id {album_id}"
        return album_id, None

    def _insert_model(
        self,
        tx: Transaction,
        model_cls: type[Item] | type[Album],
        values: dict[str, Any],
        wanted_id: int,
    ) -> int:
        """Insert a row with `wanted_id` (or a new id if taken), then store."""
        table = model_cls._table
        if tx.query(f"SELECT 1 FROM {table} WHERE id = ?", (wanted_id,)):
            new_id = tx.mutate(f"INSERT INTO {table} DEFAULT VALUES")
        else:
            new_id = tx.mutate(f"INSERT INTO {table} (id) VALUES (?)", (wanted_id,))
        assert new_id is not None
        model = model_cls(self.lib)
        model.update({k: v for k, v in values.items() if k != "id"})
        model.id = new_id
        if isinstance(model, Album):
            model.store(inherit=False)
        else:
            model.store()
        return new_id

    # Storage.

    @contextmanager
    def _atomic(self) -> Iterator[Transaction]:
        """One SQLite transaction that commits fully or not at all.

        beets' `Transaction` commits even when its block raises; the
        savepoint makes a failed block leave no trace.
        """
        with self.lib.transaction() as tx:
            tx.mutate("SAVEPOINT dedupfuzzy")
            try:
                yield tx
            except BaseException:
                with suppress(sqlite3.Error):
                    tx.mutate("ROLLBACK TO dedupfuzzy")
                    tx.mutate("RELEASE dedupfuzzy")
                raise
            tx.mutate("RELEASE dedupfuzzy")

    def _check_outermost(self) -> None:
        """Refuse to run inside a caller's open transaction.

        The journal must be committed before a file moves; inside an outer
        transaction the commit would wait until that one ends.
        """
        if self.lib._connection().in_transaction:
            raise RuntimeError("the journal cannot run inside an open transaction")

    def _insert_entry(
        self,
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

    def _update(
        self, entry_id: int, tx: Transaction | None = None, **columns: Any
    ) -> None:
        """Set columns of one entry, committed now unless `tx` is given."""
        columns["updated"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        statement = f"UPDATE {TABLE} SET {assignments} WHERE id = ?"
        values = (*columns.values(), entry_id)
        if tx is not None:
            tx.mutate(statement, values)
            return
        with self.lib.transaction() as own:
            own.mutate(statement, values)

    def _entry(self, entry_id: int) -> JournalEntry:
        return self._select("id = ?", (entry_id,))[0]

    def _select(self, where: str, values: tuple[Any, ...]) -> list[JournalEntry]:
        with self.lib.transaction() as tx:
            rows = tx.query(
                "SELECT id, run_id, seq, action, src, dst, state, item_id, "
                "item_data, created, undo_path, restored_id "
                f"FROM {TABLE} WHERE {where}",
                values,
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


def _restored_line(entry: JournalEntry, path: bytes) -> str:
    if path == entry.src:
        return f"restored {_show(path)}"
    return f"restored {_show(entry.src)} as {_show(path)} (the old name is taken)"
