"""The import hook: fingerprint what `beet import` brings in, deal with copies.

Where it hooks into beets' importer:

- `import_begin`: read the settings once, start loading the library index
  in the background and open a pool of fpcalc workers.
- `import_task_created`: start fpcalc on the task's files, so fingerprinting
  overlaps autotagging and the rest of the pipeline. When the chroma plugin
  will fingerprint them itself (at `import_task_start`), its result is
  reused instead.
- the plugin's import stage (the items are in the library, their files not
  yet copied or moved): collect and store the fingerprints, match each item
  against the index, decide (or ask), and take the copies that leave out of
  the task so beets does not copy or move them.
- `import_task_files` (files in place): record the file's mtime with its
  fingerprint, so a later `beet dedupfuzzy` decodes nothing.
- `import` (the end): finish the moves still waiting, print one summary,
  refresh the mirror views.

An item leaves the library only after beets is done with it: removing it
while its task is still in the pipeline would break the task's reload, and
moving a file beets is about to move would race it. So departures wait in
a queue until their task has passed (see `ImportRun._ready`). A new copy
that leaves is first taken out of its task, so beets never copies or moves
it: `skip` leaves its file where it is, a quarantine moves it from there.

When a prompt is possible the pipeline runs in order (`threaded: no`), so
our questions never interleave with beets' own. A re-import from the
library (`import -L`) counts duplicates but moves nothing: the items of its
later tasks are library items that beets is still iterating over.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from beets import config, plugins, ui, util
from beets.importer import Action, DuplicateAction, SingletonImportTask
from beets.library import Item, Library

from ..cli import prompts as resolver
from ..cli.report import describe
from ..fingerprinting import refresh as fingerprints
from ..fingerprinting.fpcalc import (
    FpcalcMissing,
    FpcalcResult,
    fingerprint_file,
    fpcalc_command,
)
from ..matching import blockindex
from ..matching.groups import Member
from ..matching.libraryindex import LibraryIndex
from ..matching.matcher import Match
from ..safety.actions import quarantine_destination
from ..safety.journal import Journal
from ..safety.safemove import prune_empty_dirs
from ..scan import tiebreaker
from ..settings import Settings, load_settings
from ..store import decisions
from ..store.catalog import BLOCKS, FINGERPRINT, FP_MTIME, MATCHED, Row
from .verdicts import (
    KEEP_ALL,
    Verdict,
    best_verdict,
    library_has_as_good,
    strong,
)

QUARANTINE = "quarantine"
SKIP = "skip"

NEW, OLD, BOTH, LEAVE = "n", "o", "b", "s"


@dataclass
class Departure:
    """A copy that leaves the library once beets is done with it.

    `task` is set for an item taken out of a task (a new copy): it may go
    once that task has been reloaded, that is after the next stage call or
    once the task's files are handled. Other items (already in the library)
    may go once their own task, if any, has put their file in place.
    """

    item_id: int
    kind: str
    task: object | None = None
    call: int = 0


@dataclass
class Tally:
    """What the hook did during one import, for the summary line."""

    fingerprinted: int = 0
    failed: int = 0
    duplicates: int = 0
    kept: int = 0
    quarantined: int = 0
    skipped: int = 0
    errors: int = 0
    # (new item id, library item id, similarity) of matches nobody judged
    uncertain: list[tuple[int, int, float]] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"dedupfuzzy: {self.fingerprinted} fingerprinted"
            + (f" ({self.failed} failed)" if self.failed else "")
            + f", {self.duplicates} duplicates found: {self.kept} kept, "
            f"{self.quarantined} quarantined, {self.skipped} skipped; "
            f"{len(self.uncertain)} uncertain"
        )
        if self.errors:
            text += f"; {self.errors} could not be moved"
        if self.quarantined:
            text += " (undo with: beet dedupfuzzy --undo)"
        return text


def _chroma_fingerprints() -> dict[bytes, str]:
    """Fingerprints the chroma plugin computed in this process, by path."""
    chroma = sys.modules.get("beetsplug.chroma")
    return getattr(chroma, "_fingerprints", {}) if chroma else {}


def _chroma_fingerprints_tasks() -> bool:
    """Whether chroma will fingerprint each task itself at `import_task_start`."""
    loaded = any(p.name == "chroma" for p in plugins.find_plugins())
    return (
        loaded
        and config["chroma"]["auto"].get(bool)
        and config["import"]["autotag"].get(bool)
    )


def _inside(path: bytes, folder: bytes) -> bool:
    folder = util.normpath(folder).rstrip(os.sep.encode()) + os.sep.encode()
    return util.normpath(path).startswith(folder)


def _take_out(task, item: Item) -> None:
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


class ImportRun:
    """The hook's state during one import session."""

    def __init__(
        self, plugin, lib: Library, settings: Settings, reimport: bool = False
    ) -> None:
        self.plugin = plugin
        self.lib = lib
        self.log = plugin._log
        self.settings = settings
        self.command = fpcalc_command()
        self.tally = Tally()
        self.prompting = resolver.can_prompt()
        self.quarantine = (
            util.normpath(os.path.expanduser(settings.quarantine))
            if settings.quarantine
            else b""
        )
        action = settings.import_action if self.prompting else settings.quiet_action
        if reimport:
            # Items of later tasks of an `import -L` are library items too:
            # moving them away under beets' feet would break its query.
            self.log.info("re-import: duplicates are counted, nothing is moved")
            action = "keep"
        elif not self.quarantine and action in ("best", "ask"):
            self.log.warning(
                "dedupfuzzy.quarantine is not set, so no copy can be moved aside: {}",
                "duplicates are imported as they are (keep)"
                if action == "best"
                else "you will be asked only whether to keep both or skip",
            )
            if action == "best":
                action = "keep"
        self.action = action
        # Prompts from our stage and beets' own prompts must not interleave.
        self.asks = self.prompting and action != "keep"
        if self.asks and config["threaded"].get(bool):
            self.log.debug("prompts possible: running the import pipeline in order")
            config["threaded"] = False
        self.sequential = not config["threaded"].get(bool)

        self.tiebreak = tiebreaker(lib, settings.tiebreak.get("items", []))
        self.distinct = decisions.load_distinct(lib)
        self.chroma_does_it = _chroma_fingerprints_tasks()
        self.pool = ThreadPoolExecutor(
            settings.workers, thread_name_prefix="dedupfuzzy-fpcalc"
        )
        self.futures: dict[bytes, Future[FpcalcResult]] = {}
        with lib.transaction() as tx:
            last_id = tx.query("SELECT MAX(id) FROM items")[0][0] or 0
        self.loader = ThreadPoolExecutor(1, thread_name_prefix="dedupfuzzy-index")
        self.index_future = self.loader.submit(
            LibraryIndex.load, lib, settings.match, last_id
        )
        self.index: LibraryIndex | None = None
        self.disabled = False

        self.lock = threading.RLock()
        self.calls = 0
        self.pending: list[Departure] = []
        self.in_flight: set[int] = set()
        self.settled: weakref.WeakSet = weakref.WeakSet()
        self.fingerprinted: set[int] = set()
        self.journal: Journal | None = None
        self.run_id: int | None = None
        self.changed = False

    # Events.

    def task_created(self, task, session) -> None:
        """Start fpcalc on the task's files (unless chroma will)."""
        if self.sequential:
            # The tasks before this one are through the whole pipeline.
            self.flush(force=True)
        if self.chroma_does_it or self.disabled:
            return
        for item in task.items:
            path = item.path
            if path not in self.futures:
                self.futures[path] = self.pool.submit(
                    fingerprint_file, self.command, path
                )

    def task_files(self, task, session) -> None:
        """The task's files are in place: note their mtimes, then move on."""
        items = task.imported_items()
        with self.lib.transaction():
            for item in items:
                if item.id not in self.fingerprinted:
                    continue
                mtime = fingerprints.file_mtime(item.path)
                if mtime is not None:
                    item[FP_MTIME] = mtime
                    item.store()
        with self.lock:
            for item in items:
                self.in_flight.discard(item.id)
                if self.index is not None:
                    self.index.relocate(item.id, item.path)
            self.settled.add(task)
            self.changed = self.changed or bool(items)
        self.flush()

    def stage(self, session, task) -> None:
        """Fingerprint, match and decide for every item of one task."""
        with self.lock:
            self.calls += 1
        self.flush()
        items = list(task.imported_items())
        if self.disabled or not items:
            return
        index = self._index()
        if index is None:
            return
        rows = self._fingerprint(items)
        current: dict[int, Item] = {}
        for item in items:
            row = rows.get(item.id)
            if row is not None:
                self._match(task, item, row, index, current)
        self.flush()

    def end(self) -> None:
        """The import is over: finish every move, summarise, refresh mirrors."""
        self.flush(force=True)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.loader.shutdown(wait=True, cancel_futures=True)
        t = self.tally
        if t.fingerprinted or t.failed:
            ui.print_(t.line())
            for new_id, old_id, similarity in t.uncertain:
                ui.print_(
                    f"  uncertain (imported, nothing moved): {self._shown(new_id)} "
                    f"~ {self._shown(old_id)} (similarity {similarity:.2f})"
                )
        if self.changed:
            self.plugin.after_change(self.lib)

    def _shown(self, item_id: int) -> str:
        item = self.lib.get_item(item_id)
        return util.displayable_path(item.path) if item else f"item {item_id} (gone)"

    # Fingerprints.

    def _index(self) -> LibraryIndex | None:
        if self.index is None and not self.disabled:
            try:
                self.index = self.index_future.result()
            except Exception as exc:
                self.log.warning("cannot index the library, not matching: {}", exc)
                self.disabled = True
                return None
            if self.index.unfingerprinted:
                self.log.info(
                    "{} library items have no fingerprint yet and cannot be "
                    "matched; `beet dedupfuzzy` fingerprints them",
                    self.index.unfingerprinted,
                )
        return self.index

    def _fingerprint(self, items: list[Item]) -> dict[int, Row]:
        """Fingerprints of the items, stored on them; the usable ones as rows."""
        chroma = _chroma_fingerprints()
        known: dict[int, str] = {}
        waiting: list[tuple[Item, Future[FpcalcResult]]] = []
        for item in items:
            path = item.path
            found = self._stored_fresh(item) or chroma.get(path)
            future = self.futures.pop(path, None)
            if found:
                self.log.debug("reusing the fingerprint of {}", item.filepath)
                if future is not None:
                    future.cancel()
                known[item.id] = found
                continue
            if future is None:
                future = self.pool.submit(fingerprint_file, self.command, path)
            waiting.append((item, future))
        for item, future in waiting:
            result = future.result()
            if result.ok:
                known[item.id] = result.fingerprint
            else:
                self.tally.failed += 1
                self.log.warning(
                    "{}: {}", util.displayable_path(item.path), result.error
                )
        rows: dict[int, Row] = {}
        with self.lib.transaction():
            for item in items:
                fingerprint = known.get(item.id)
                if not fingerprint:
                    continue
                frames = fingerprints.frames_of_fingerprint(fingerprint)
                if frames is None:
                    self.tally.failed += 1
                    continue
                blocks = blockindex.encode_sketch(fingerprints.sketch_of(frames))
                mtime = fingerprints.file_mtime(item.path)
                item[FINGERPRINT] = fingerprint
                item[BLOCKS] = blocks
                item[MATCHED] = ""
                if mtime is not None:
                    item[FP_MTIME] = mtime
                item.store()
                self.fingerprinted.add(item.id)
                self.tally.fingerprinted += 1
                rows[item.id] = _row_of(item, fingerprint, blocks, mtime)
        return rows

    def _stored_fresh(self, item: Item) -> str:
        """The item's stored fingerprint if it still describes the file."""
        fingerprint = item.get(FINGERPRINT) or ""
        if not fingerprint or item.get(FP_MTIME) is None:
            return ""
        row = _row_of(item, fingerprint, "", float(item[FP_MTIME]))
        mtime = fingerprints.file_mtime(item.path)
        return fingerprint if fingerprints.is_fresh(row, mtime) else ""

    # Matching and deciding.

    def _match(
        self,
        task,
        item: Item,
        row: Row,
        index: LibraryIndex,
        current: dict[int, Item],
    ) -> None:
        same = index.id_of_path(row.path)
        if same is not None and same != item.id:
            index.discard(same)  # a re-import replaced that row
        matches = [
            m
            for m in index.match_row(row, {item.id})
            if (min(m.a, m.b), max(m.a, m.b)) not in self.distinct
        ]
        # beets itself may have removed some (`duplicate_action: remove`).
        present = self._present([m.b for m in matches])
        for m in matches:
            if m.b not in present:
                index.discard(m.b)
        matches = [m for m in matches if m.b in present]
        if not matches:
            self._apply(task, item, row, index, current, KEEP_ALL, QUARANTINE)
            return
        verdict, kind = self._decide(row, matches, index)
        if (
            verdict is not None
            and verdict.new_leaves
            and task.duplicate_action
            in (
                DuplicateAction.REMOVE,
                DuplicateAction.UPGRADE,
            )
        ):
            # beets replaces the old copies with this one: leave it be.
            verdict = KEEP_ALL
        if verdict is not None:
            self.tally.duplicates += 1
            self.tally.kept += verdict.keeps_all
        self._apply(task, item, row, index, current, verdict or KEEP_ALL, kind)

    def _decide(
        self, row: Row, matches: list[Match], index: LibraryIndex
    ) -> tuple[Verdict | None, str]:
        """What happens to the copies; None for an uncertain match nobody judged.

        Only the copies the new item is grouped with (all matching each
        other: the clique rule) are acted on without a question.
        """
        group = index.clique_of(row, matches)
        certain = [m for m in strong(matches, self.settings.match) if m.b in group]
        if self.asks and (self.action == "ask" or not certain):
            answer = self._ask(row, matches, index)
            if answer == NEW:
                return Verdict(leaving=tuple(m.b for m in matches)), QUARANTINE
            if answer == OLD:
                return Verdict(new_leaves=True), QUARANTINE
            if answer == LEAVE:
                return Verdict(new_leaves=True), SKIP
            for m in matches:  # both stay, on purpose: never ask again
                decisions.mark_distinct(self.lib, m.a, m.b)
                self.distinct.add((min(m.a, m.b), max(m.a, m.b)))
                index.mark_distinct(m.a, m.b)
            return KEEP_ALL, QUARANTINE
        if not certain:
            best = matches[0]
            self.tally.uncertain.append((best.a, best.b, best.similarity))
            return None, QUARANTINE
        old = [index.row(m.b) for m in certain]
        policy = self.settings.keep
        if self.action == "best":
            return best_verdict(row, old, policy, self.tiebreak), QUARANTINE
        if self.action == "skip" and library_has_as_good(
            row, old, policy, self.tiebreak
        ):
            return Verdict(new_leaves=True), SKIP
        return KEEP_ALL, QUARANTINE

    def _present(self, ids: list[int]) -> set[int]:
        """Which of these items are still in the library."""
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        with self.lib.transaction() as tx:
            rows = tx.query(f"SELECT id FROM items WHERE id IN ({marks})", ids)
        return {r[0] for r in rows}

    def _apply(
        self,
        task,
        item: Item,
        row: Row,
        index: LibraryIndex,
        current: dict[int, Item],
        verdict: Verdict,
        kind: str,
    ) -> None:
        with self.lock:
            if verdict.new_leaves:
                self._leave_from_task(task, item, kind)
            else:
                index.add(row)
                current[item.id] = item
                self.in_flight.add(item.id)
            for old_id in verdict.leaving:
                index.discard(old_id)
                if old_id in current:
                    self._leave_from_task(task, current.pop(old_id), QUARANTINE)
                else:
                    self.pending.append(Departure(old_id, QUARANTINE, None, self.calls))

    def _leave_from_task(self, task, item: Item, kind: str) -> None:
        _take_out(task, item)
        self.in_flight.discard(item.id)
        if kind == SKIP:
            self.tally.skipped += 1
        self.pending.append(Departure(item.id, kind, task, self.calls))

    def _ask(self, row: Row, matches: list[Match], index: LibraryIndex) -> str:
        """Show the new copy and the copies it matches; return the answer."""
        auto = self.settings.match.auto_threshold
        uncertain = all(m.similarity < auto for m in matches)
        title = "Possible duplicate (uncertain)" if uncertain else "Duplicate"
        ui.print_("")
        ui.print_(f"{title} of a library track, found by sound:")
        ui.print_(
            f"  new  {describe(Member(row, True, 1.0, 0.0), True)}  "
            f"{util.displayable_path(row.path)}"
        )
        for m in matches:
            old = index.row(m.b)
            ui.print_(
                f"  old  {describe(_as_member(old, m), False)}"
                f"  {util.displayable_path(old.path)}"
            )
        if not self.quarantine:
            return ui.input_options(("keep Both", "Skip"), default=BOTH)
        default = BOTH
        if not uncertain:
            old = [index.row(m.b) for m in matches]
            better_old = best_verdict(row, old, "best", self.tiebreak).new_leaves
            default = OLD if better_old else NEW
        return ui.input_options(
            ("keep New", "keep Old", "keep Both", "Skip"), default=default
        )

    # Carrying out departures.

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
        src = item.path
        if d.kind == SKIP:
            item.remove(delete=False, with_album=True)
            return
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
            self.log.warning("{}: {}", util.displayable_path(src), exc)
            return
        self.tally.quarantined += 1
        self.changed = True
        self.log.info(
            "moved {} -> {}", util.displayable_path(src), util.displayable_path(final)
        )
        if _inside(src, self.lib.directory):
            prune_empty_dirs(os.path.dirname(src), self.lib.directory)
        elif d.task is not None and config["import"]["move"].get(bool):
            d.task.prune(src)  # as beets does for the files it moved

    def _destination(self, item: Item) -> bytes:
        """Where a copy goes in the quarantine: where it is (or would be) in
        the library, relative to the library folder."""
        place = item.path
        if not _inside(place, self.lib.directory):
            try:
                place = item.destination()
            except Exception:  # a broken path template: keep the full path
                place = item.path
        return quarantine_destination(place, self.quarantine, self.lib.directory)


def _row_of(item: Item, fingerprint: str, blocks: str, fp_mtime: float | None) -> Row:
    return Row(
        id=item.id,
        path=item.path,
        length=float(item.length or 0.0),
        format=item.format or "",
        bitrate=int(item.bitrate or 0),
        bitdepth=int(item.bitdepth or 0),
        samplerate=int(item.samplerate or 0),
        mtime=float(item.mtime or 0.0),
        fingerprint=fingerprint,
        fp_mtime=fp_mtime,
        blocks=blocks,
    )


class ImportHook:
    """Registers the listeners and the import stage; one `ImportRun` per import."""

    def __init__(self, plugin) -> None:
        self.plugin = plugin
        self.run: ImportRun | None = None
        plugin.register_listener("import_begin", self.begin)
        plugin.register_listener("import_task_created", self.task_created)
        plugin.register_listener("import_task_files", self.task_files)
        plugin.register_listener("import", self.end)
        plugin.register_listener("cli_exit", self.end)
        plugin.import_stages = [self.stage]

    def begin(self, session) -> None:
        if self.run is not None:
            self.end()
        settings = load_settings(self.plugin.config)
        if not settings.auto or session.config["pretend"].get(bool):
            return
        try:
            self.run = ImportRun(
                self.plugin, session.lib, settings, session.query is not None
            )
        except FpcalcMissing as exc:
            self.plugin._log.warning("{}; imports are not checked for duplicates", exc)

    def task_created(self, task, session) -> None:
        if self.run is not None:
            self.run.task_created(task, session)

    def stage(self, session, task) -> None:
        if self.run is not None:
            self.run.stage(session, task)

    def task_files(self, task, session) -> None:
        if self.run is not None:
            self.run.task_files(task, session)

    def end(self, **_) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.end()


def _as_member(old: Row, m: Match) -> Member:
    """A library copy as shown beside the new one (`m` has the new one as `a`)."""
    return Member(old, True, m.similarity, m.offset, round(1.0 / m.speed - 1.0, 4))
