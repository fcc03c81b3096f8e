"""The move journal: every quarantine move is recorded before it happens.

Quarantining one item:

1. In one transaction: snapshot the item (all fixed and flexible fields, and
   its album's fields if removing the item empties the album), insert a
   ``pending`` entry naming the exact destination, and remove the item.
2. Move the file to exactly that destination (`safemove.move_exact`). If the
   name got taken meanwhile, a new free name is committed to the entry
   *before* the next attempt, so the entry always names the one place where
   the file can be.
3. Mark the entry ``moved``.

Undo (`undo`) mirrors it; recovery after an interruption (`recovery`) is
never a guess because the entry names both ends of the one move in flight.
The library therefore only ever points at files that exist, and no step
deletes the last copy of anything. The tables and snapshots are in `schema`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beets.library import Item

from . import recovery, safemove, schema
from . import undo as undoing
from .schema import (
    DATA_VERSION,
    MOVED,
    PENDING,
    QUARANTINE,
    REVERTED,
    UNDOING,
    UNDONE,
    JournalEntry,
    JournalError,
    RunSummary,
    atomic,
    exists,
    show,
    snapshot,
)
from .undo import UndoResult

if TYPE_CHECKING:
    from beets.library import Library

__all__ = [
    "MOVED",
    "PENDING",
    "QUARANTINE",
    "REVERTED",
    "UNDOING",
    "UNDONE",
    "Journal",
    "JournalEntry",
    "JournalError",
    "RunSummary",
    "UndoResult",
]


class Journal:
    """Journalled, undoable quarantine moves for one beets library."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.last_recovery: list[str] = []
        schema.create_tables(lib)

    # Runs.

    def start_run(self) -> int:
        """Settle interrupted work, then open a new run and return its id.

        What recovery did is kept in `last_recovery`.
        """
        self.last_recovery = self.recover()
        return schema.start_run(self.lib)

    def runs(self) -> list[RunSummary]:
        """Return every run, oldest first, with its entry counts by state."""
        return schema.runs(self.lib)

    def last_run(self) -> int | None:
        """Return the newest run that still has files in quarantine."""
        return undoing.last_run(self.lib)

    def entries(self, run_id: int | None = None) -> list[JournalEntry]:
        """Return the entries of one run (or all), oldest first."""
        if run_id is None:
            return schema.select(self.lib, "1 ORDER BY id", ())
        return schema.select(self.lib, "run_id = ? ORDER BY id", (run_id,))

    def recover(self) -> list[str]:
        """Finish or revert every interrupted move; say what was done."""
        return recovery.recover(self.lib)

    def undo(self, all_runs: bool = False) -> list[UndoResult]:
        """Put back what the last run (or every run) moved, newest first."""
        return undoing.undo(self.lib, all_runs)

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
        target = safemove.free_destination(dst)
        with atomic(self.lib) as tx:
            if not schema.run_exists(tx, run_id):
                raise ValueError(f"no journal run {run_id}; use start_run()")
            current = self.lib.get_item(item.id)
            if current is None:
                raise JournalError(f"item {item.id} is no longer in the library")
            src = current.path
            if not exists(src):
                raise JournalError(
                    f"{show(src)} does not exist; item left in the library"
                )
            data = self._remove_item(current)
            entry_id = schema.insert_entry(tx, run_id, src, target, current.id, data)

        try:
            final = safemove.move_recorded(
                src,
                target,
                retarget=lambda: safemove.free_destination(dst),
                record=lambda path: schema.update(self.lib, entry_id, dst=path),
            )
        except Exception as exc:
            settled = recovery.settle_after_failure(self.lib, entry_id, exc)
            if settled.state == MOVED:
                return schema.entry(self.lib, entry_id).dst
            raise JournalError(
                f"{show(src)} not moved ({exc}); item kept in the library"
            ) from exc
        except BaseException as exc:
            recovery.settle_after_failure(self.lib, entry_id, exc)
            raise

        schema.update(self.lib, entry_id, state=MOVED)
        return final

    def _remove_item(self, item: Item) -> dict[str, Any]:
        """Remove the item (its album too, if emptied); return the snapshot."""
        album = item.get_album()
        data: dict[str, Any] = {
            "version": DATA_VERSION,
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
