"""Copies leaving the library during an import, once beets is done with them.

An item leaves only after beets is done with it: removing it while its task
is still in the pipeline would break the task's reload, and moving a file
beets is about to copy or move would race it. So departures wait in a queue
until their task has passed (`Departures.flush`). A new copy that leaves is
first taken out of its task, so beets never copies or moves its file.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass

from beets import util
from beets.importer import Action, SingletonImportTask
from beets.library import Item, Library

from ..display import shown
from ..safety.actions import quarantine_destination
from ..safety.journal import Journal
from ..safety.places import within
from ..safety.safemove import prune_empty_dirs
from .modes import NOT_IMPORTED, QUARANTINED
from .tally import Tally


@dataclass
class Departure:
    """A copy that leaves the library once beets is done with it.

    `task` is set for an item taken out of a task (a new copy): it may go
    once that task has been reloaded, that is after the next stage call or
    once the task's files are handled. Other items (already in the library)
    may go once their own task, if any, has put their file in place.
    """

    item_id: int
    fate: str
    task: object | None = None
    call: int = 0


def take_out(task, item: Item) -> None:
    """Remove an item from a task so beets neither copies nor moves it."""
    if isinstance(task, SingletonImportTask):
        task.set_choice(Action.SKIP)
        return
    if task.choice_flag is Action.APPLY and task.match is not None:
        task.match.mapping.pop(item, None)
    else:
        task.items[:] = [i for i in task.items if i is not item]
    if not task.imported_items():
        task.set_choice(Action.SKIP)


class Departures:
    """The queue of copies waiting to leave, and carrying them out."""

    def __init__(self, lib: Library, quarantine: bytes, tally: Tally, log) -> None:
        self.lib = lib
        self.quarantine = quarantine
        self.tally = tally
        self.log = log
        self.lock = threading.RLock()
        self.calls = 0
        self.pending: list[Departure] = []
        self.in_flight: set[int] = set()
        self.settled: weakref.WeakSet = weakref.WeakSet()
        self.journal: Journal | None = None
        self.run_id: int | None = None
        self.moved = False

    def add(self, item_id: int, fate: str, task=None) -> None:
        with self.lock:
            self.pending.append(Departure(item_id, fate, task, self.calls))

    def _ready(self, d: Departure) -> bool:
        if d.task is not None:
            return self.calls > d.call or d.task in self.settled
        return d.item_id not in self.in_flight

    def flush(self, force: bool = False) -> None:
        """Carry out the departures whose items beets is done with."""
        with self.lock:
            ready = [d for d in self.pending if force or self._ready(d)]
            if not ready:
                return
            self.pending = [d for d in self.pending if d not in ready]
            for d in ready:
                self._carry_out(d)

    def _carry_out(self, d: Departure) -> None:
        item = self.lib.get_item(d.item_id)
        if item is None:
            return
        if d.fate == NOT_IMPORTED:
            # Its file was never copied or moved: the source stays as it was.
            item.remove(delete=False, with_album=True)
            self.tally.not_imported += 1
            return
        assert d.fate == QUARANTINED and self.quarantine
        src = item.path
        if self.journal is None:
            self.journal = Journal(self.lib)
            self.run_id = self.journal.start_run()
            for line in self.journal.last_recovery:
                self.log.warning("{}", line)
        assert self.run_id is not None
        try:
            final = self.journal.quarantine(self.run_id, item, self._destination(item))
        except (OSError, util.FilesystemError) as exc:
            self.tally.errors += 1
            self.log.warning("{}: {}", shown(src), exc)
            return
        self.tally.quarantined += 1
        self.moved = True
        self.log.info("moved {} -> {}", shown(src), shown(final))
        if within(src, self.lib.directory):
            prune_empty_dirs(os.path.dirname(src), self.lib.directory)

    def _destination(self, item: Item) -> bytes:
        """Where a copy goes in the quarantine: where it is (or would be) in
        the library, relative to the library folder."""
        place = item.path
        if not within(place, self.lib.directory):
            try:
                place = item.destination()
            except Exception:  # a broken path template: keep the full path
                place = item.path
        return quarantine_destination(place, self.quarantine, self.lib.directory)
