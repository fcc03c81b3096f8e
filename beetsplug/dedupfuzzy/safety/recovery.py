"""Settling interrupted moves: finish or revert each, by where its file is.

Because an unfinished entry names both ends of the one move in flight,
recovery is never a guess: whichever end holds the file decides whether the
move is finished (``moved`` / ``undone``) or reverted (``reverted`` / back
to ``moved``). If both ends hold the same file (a hard link, or a complete
fsynced copy across filesystems) the move is finished and the file is left
at one end only; if the destination holds some other file, the move is
reverted and that file is left alone.

A run that was killed may be followed by an import that brought the file
back into the library at its old path before anything settled the entry
(an older plugin, or the plugin not loaded). Then the library's item owns
that path: the file stays (or goes back) there, the journalled item is not
restored a second time, and the entry records the item that holds it.

`recover` is the public entry point; every command and import of the plugin
calls it (under the library lock) before it reads the library.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from beets import util

from . import safemove
from .restore import holder, restore
from .schema import (
    MOVED,
    PENDING,
    REVERTED,
    UNDOING,
    UNDONE,
    JournalEntry,
    JournalError,
    atomic,
    check_outermost,
    entry,
    exists,
    show,
    unsettled,
    update,
)

if TYPE_CHECKING:
    from beets.library import Library


@dataclass(frozen=True)
class Settled:
    """The outcome of settling one interrupted entry."""

    entry: JournalEntry
    state: str
    restored_to: bytes | None
    item_id: int | None
    message: str


def recover(lib: Library) -> list[str]:
    """Finish or revert every interrupted move; one line per entry settled."""
    return [settled.message for settled in settle_all(lib)]


def settle_all(lib: Library) -> list[Settled]:
    with lib.music_dir_context():
        check_outermost(lib)
        results = []
        for found in unsettled(lib):
            try:
                results.append(settle(lib, found, finish=True))
            except Exception as exc:
                results.append(
                    Settled(
                        found,
                        found.state,
                        None,
                        None,
                        f"could not settle journal entry {found.id} "
                        f"({show(found.src)}): {exc}",
                    )
                )
        return results


def settle_after_failure(lib: Library, entry_id: int, exc: BaseException) -> Settled:
    """Revert a move that raised; if even that fails, leave it journalled."""
    try:
        return settle(lib, entry(lib, entry_id), finish=False)
    except Exception as settle_exc:
        raise JournalError(
            f"move failed ({exc}) and could not be reverted ({settle_exc}); "
            "the next run or undo will settle it"
        ) from exc


def settle(lib: Library, found: JournalEntry, finish: bool) -> Settled:
    """Bring one in-flight entry to a final state, by where its file is.

    `finish` chooses, when both ends hold the same file, between
    completing the move (recovery) and reverting it (a failed attempt).
    """
    if found.state == PENDING:
        origin, target = found.src, found.dst
    elif found.state == UNDOING and found.undo_path is not None:
        origin, target = found.dst, found.undo_path
    else:
        return Settled(found, found.state, None, None, "nothing to settle")

    at_origin, at_target = exists(origin), exists(target)
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

    if found.state == PENDING:
        owner = holder(lib, origin)
        if owner is not None:
            return _left_to(lib, found, owner, at_origin, at_target, ours)
    elif at_target and (ours or not at_origin):
        owner = holder(lib, target)
        if owner is not None:
            if at_origin:
                _unlink(origin)
            return _roll_forward(lib, found, adopt=owner)

    if at_origin and at_target:
        if not ours:
            return _roll_back(lib, found, stray=target)
        if finish and _unlink(origin):
            return _roll_forward(lib, found)
        _unlink(target)
        return _roll_back(lib, found)
    if at_origin:
        return _roll_back(lib, found)
    if at_target:
        return _roll_forward(lib, found)
    return _missing(found, origin, target, partials)


def _unlink(path: bytes) -> bool:
    try:
        os.unlink(util.syspath(path))
    except OSError:
        return False
    return True


def _missing(
    found: JournalEntry, origin: bytes, target: bytes, partials: list[bytes]
) -> Settled:
    leftovers = "".join(f"; partial copy kept: {show(p)}" for p in partials)
    return Settled(
        found,
        found.state,
        None,
        None,
        f"file missing at both {show(origin)} and {show(target)}; "
        f"journal entry {found.id} left {found.state}{leftovers}",
    )


def _left_to(
    lib: Library,
    found: JournalEntry,
    owner: int,
    at_origin: bool,
    at_target: bool,
    ours: bool,
) -> Settled:
    """The library holds the origin again (a re-import): the file stays there."""
    notes = []
    if at_origin and at_target:
        if ours:
            _unlink(found.dst)
        else:
            notes.append(f"{show(found.dst)} was already there, left untouched")
    elif at_target:
        safemove.move_exact(found.dst, found.src)
    else:
        return _missing(found, found.src, found.dst, [])
    update(lib, found.id, state=REVERTED, restored_id=owner)
    line = (
        f"{show(found.src)} stays in the library (not moved): it was imported "
        f"again as item {owner}"
    )
    return Settled(found, REVERTED, found.src, owner, "; ".join([line, *notes]))


def _roll_back(
    lib: Library, found: JournalEntry, stray: bytes | None = None
) -> Settled:
    """The file is at the origin of the in-flight move: undo the step.

    `stray` names a file found at the target that is not provably ours;
    it is left alone and mentioned.
    """
    notes = [f"{show(stray)} was already there, left untouched"] if stray else []
    if found.state == UNDOING:
        update(lib, found.id, state=MOVED, undo_path=None)
        line = f"{show(found.dst)} stays in quarantine (not put back)"
        return Settled(found, MOVED, None, None, "; ".join([line, *notes]))
    with atomic(lib) as tx:
        item_id, restore_notes = restore(lib, tx, found, found.src)
        update(lib, found.id, tx=tx, state=REVERTED, restored_id=item_id)
    line = f"{show(found.src)} stays in the library (not moved)"
    return Settled(
        found, REVERTED, found.src, item_id, "; ".join([line, *notes, *restore_notes])
    )


def _roll_forward(
    lib: Library, found: JournalEntry, adopt: int | None = None
) -> Settled:
    """The file is at the target of the in-flight move: finish the step.

    For an undo, `adopt` is an item the library already holds at the path
    the file went back to: it is the file's item, no second one is made.
    """
    if found.state == PENDING:
        update(lib, found.id, state=MOVED)
        return Settled(
            found,
            MOVED,
            None,
            None,
            f"finished moving {show(found.src)} to {show(found.dst)}",
        )
    path = found.undo_path
    assert path is not None
    if adopt is not None:
        update(lib, found.id, state=UNDONE, restored_id=adopt)
        line = f"restored {show(path)} (the library's item {adopt} is at that path)"
        return Settled(found, UNDONE, path, adopt, line)
    with atomic(lib) as tx:
        item_id, notes = restore(lib, tx, found, path)
        update(lib, found.id, tx=tx, state=UNDONE, restored_id=item_id)
    return Settled(
        found, UNDONE, path, item_id, "; ".join([restored_line(found, path), *notes])
    )


def restored_line(found: JournalEntry, path: bytes) -> str:
    if path == found.src:
        return f"restored {show(path)}"
    return f"restored {show(found.src)} as {show(path)} (the old name is taken)"
