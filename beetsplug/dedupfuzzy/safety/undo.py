"""Undo: put quarantined files back, newest first, each item as it was.

Undoing one entry mirrors its move: commit ``undoing`` with the exact path
the file goes back to, move the file, then restore the item (same id) and
mark the entry ``undone`` in one transaction. Interrupted work is settled
first (see `recovery`).

The path a file goes back to is its old one unless something else holds
it: a file on disk (then the first free "name.N.ext"), or a library item
whose file is there. A library item at the old path whose file is missing
was imported from that very path while the file was away; the file goes
back under it and no second item is made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import safemove
from .recovery import settle, settle_after_failure, settle_all
from .restore import holder
from .schema import (
    MOVED,
    TABLE,
    UNDOING,
    UNDONE,
    JournalEntry,
    entry,
    exists,
    select,
    show,
    update,
)

if TYPE_CHECKING:
    from beets.library import Library


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


def last_run(lib: Library) -> int | None:
    """Return the newest run that still has files in quarantine."""
    with lib.transaction() as tx:
        rows = tx.query(f"SELECT MAX(run_id) FROM {TABLE} WHERE state = ?", (MOVED,))
    return rows[0][0] if rows else None


def undo(lib: Library, all_runs: bool = False) -> list[UndoResult]:
    """Put back what the last run (or every run) moved, newest first.

    Interrupted work is settled first and reported in the results too.
    A quarantined file that is missing is reported and left journalled.
    """
    with lib.music_dir_context():
        results = [
            UndoResult(
                s.entry.id,
                s.entry.run_id,
                s.entry.src,
                s.restored_to,
                s.item_id,
                s.message,
            )
            for s in settle_all(lib)
        ]
        if all_runs:
            entries = select(
                lib, "state = ? ORDER BY run_id DESC, seq DESC, id DESC", (MOVED,)
            )
        else:
            entries = select(
                lib,
                "state = ? AND run_id = ? ORDER BY seq DESC, id DESC",
                (MOVED, last_run(lib)),
            )
        for found in entries:
            try:
                results.append(_undo_entry(lib, found))
            except Exception as exc:
                results.append(
                    UndoResult(
                        found.id,
                        found.run_id,
                        found.src,
                        None,
                        None,
                        f"could not restore {show(found.src)} ({exc}); the next "
                        "run or undo will settle it",
                    )
                )
        return results


def way_back(lib: Library, src: bytes) -> bytes:
    """The path a quarantined file goes back to (see the module text)."""
    if not exists(src):
        return src
    stem, ext = os.path.splitext(src)
    for number in range(1, 100_000):
        candidate = b"%s.%d%s" % (stem, number, ext)
        if not exists(candidate) and holder(lib, candidate) is None:
            return candidate
    raise safemove.SafeMoveError(f"no free name next to {show(src)}")


def _undo_entry(lib: Library, found: JournalEntry) -> UndoResult:
    def result(restored_to: bytes | None, item_id: int | None, message: str):
        return UndoResult(
            found.id, found.run_id, found.src, restored_to, item_id, message
        )

    if not exists(found.dst):
        return result(
            None,
            None,
            f"quarantined file missing: {show(found.dst)} "
            f"(not restored to {show(found.src)})",
        )
    target = way_back(lib, found.src)
    update(lib, found.id, state=UNDOING, undo_path=target)
    try:
        safemove.move_recorded(
            found.dst,
            target,
            retarget=lambda: way_back(lib, found.src),
            record=lambda path: update(lib, found.id, undo_path=path),
        )
    except Exception as exc:
        settled = settle_after_failure(lib, found.id, exc)
        if settled.state != UNDONE:
            return result(None, None, f"could not restore {show(found.src)}: {exc}")
        return result(settled.restored_to, settled.item_id, settled.message)
    except BaseException as exc:
        settle_after_failure(lib, found.id, exc)
        raise
    # The file is at its way back: settle the entry as recovery would.
    settled = settle(lib, entry(lib, found.id), finish=True)
    return result(settled.restored_to, settled.item_id, settled.message)
