"""One import session seen by the hook: fingerprints, matches, decisions.

- `task_created`: start fpcalc on the task's files, so fingerprinting
  overlaps autotagging and the rest of the pipeline (unless the chroma
  plugin fingerprints them itself at `import_task_start`).
- `ask` (from beets' choice flow, see `hook.py`): put the task's duplicates
  to the user, in the thread where beets asks its own questions, before
  beets adds the items. The import stays threaded.
- `stage` (the items are in the library, their files not yet copied or
  moved): store the fingerprints, match each item against the index,
  decide (by the answer given, or by the policy), and take the copies that
  leave out of the task so beets never copies or moves them.
- `task_files` (files in place): note their mtimes, carry out departures.
- `end`: finish the departures, print one summary, refresh mirror views.

A re-import from the library (`import -L`) counts duplicates but moves
nothing: the items of its later tasks are library items beets is still
iterating over.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from beets import config, ui, util
from beets.importer import DuplicateAction
from beets.library import Item, Library
from beets.ui import UserError

from ..display import shown
from ..fingerprinting.fpcalc import fpcalc_command
from ..fingerprinting.refresh import take_analysis
from ..matching.libraryindex import LibraryIndex
from ..matching.matcher import Match
from ..quality import tiebreaker
from ..safety.places import place_refusal
from ..settings import Settings
from ..store import decisions
from ..store.fields import Row
from . import deciding
from .departures import Departures, take_out
from .fingerprints import FingerprintSource, row_of
from .modes import QUARANTINED, ImportMode
from .tally import Tally
from .verdicts import KEEP_ALL, Verdict, strong


class ImportRun:
    """The hook's state during one import session."""

    def __init__(
        self, plugin, lib: Library, settings: Settings, reimport: bool = False
    ) -> None:
        from ..cli import prompts

        self.plugin = plugin
        self.lib = lib
        self.log = plugin._log
        self.settings = settings
        self.tally = Tally()
        quarantine = (
            util.normpath(os.path.expanduser(settings.quarantine))
            if settings.quarantine
            else b""
        )
        if quarantine:
            refusal = place_refusal(lib, quarantine, "dedupfuzzy.quarantine")
            if refusal:
                raise UserError(f"dedupfuzzy: {refusal}")
        self.mode = ImportMode.of(config["import"], bool(quarantine))
        self.policy = deciding.Policy.of(
            settings,
            prompts.can_prompt(),
            bool(quarantine),
            tiebreaker(lib, settings.tiebreak.get("items", [])),
        )
        if reimport or settings.pretend:
            # Items of later tasks of an `import -L` are library items too:
            # moving them away under beets' feet would break its query.
            self.log.info(
                "{}: duplicates are counted, nothing is moved",
                "dedupfuzzy.pretend" if settings.pretend else "re-import",
            )
            self.policy = deciding.Policy(
                "keep", False, False, settings.keep, settings.match
            )
        elif not quarantine and self.policy.action in ("best", "ask"):
            self.log.warning(
                "dedupfuzzy.quarantine is not set: library copies stay where they "
                "are; only a worse new copy can be left out of the import"
            )
        self.departures = Departures(lib, quarantine, self.tally, self.log)
        self.lock = threading.RLock()
        self.fingerprints = FingerprintSource(
            lib, fpcalc_command(), settings.workers, settings.check_lossless
        )
        with lib.transaction() as tx:
            last_id = tx.query("SELECT MAX(id) FROM items")[0][0] or 0
        self.loader = ThreadPoolExecutor(1, thread_name_prefix="dedupfuzzy-index")
        self.index_future: Future[LibraryIndex] = self.loader.submit(
            LibraryIndex.load, lib, settings.match, last_id
        )
        self.index: LibraryIndex | None = None
        self.disabled = False
        self.distinct = decisions.load_distinct(lib)
        # Answers given in beets' choice flow, by id() of the item object
        # (kept alive here): (item, answer, the library ids asked about).
        self.answers: dict[int, tuple[Item, str, tuple[int, ...]]] = {}
        self.provisional = itertools.count(-1, -1)
        self.changed = False

    # Events.

    def task_created(self, task, session) -> None:
        if not config["threaded"].get(bool):
            # The tasks before this one are through the whole pipeline.
            self.departures.flush(force=True)
        if not self.disabled:
            self.fingerprints.start(list(task.items))

    def ask(self, task, items: list[Item]) -> None:
        """Put this task's duplicates to the user, before beets adds them."""
        if not self.policy.prompting or self.policy.action == "keep":
            return
        for item in items:
            fingerprint = self.fingerprints.get(item)
            if not fingerprint:
                continue
            row = row_of(item, fingerprint, next(self.provisional))
            analysis = self.fingerprints.analysis(item)
            if analysis is not None and analysis.ok:
                take_analysis(row, analysis)  # the keeper knows a fake
            with self.lock:
                index = self._index()
                if index is None:
                    return
                matches = self._matches(row, index)
                certain = self._certain(row, matches, index)
                if not self.policy.asks(matches, certain):
                    continue
                rows = {m.b: index.row(m.b) for m in matches}
            answer = deciding.ask(self.policy, row, matches, rows, bool(certain))
            self.answers[id(item)] = (item, answer, tuple(m.b for m in matches))

    def task_files(self, task, session) -> None:
        """The task's files are in place: note their mtimes, then move on."""
        items = task.imported_items()
        self.fingerprints.note_placed(items)
        d = self.departures
        with d.lock:
            for item in items:
                d.in_flight.discard(item.id)
                if self.index is not None:
                    self.index.relocate(item.id, item.path)
            d.settled.add(task)
            self.changed = self.changed or bool(items)
        d.flush()

    def stage(self, session, task) -> None:
        """Fingerprint, match and decide for every item of one task."""
        d = self.departures
        with d.lock:
            d.calls += 1
        d.flush()
        items = list(task.imported_items())
        if self.disabled or not items:
            return
        rows = self.fingerprints.store(items, self.tally, self.log)
        with self.lock:
            index = self._index()
            if index is None:
                return
            current: dict[int, Item] = {}
            for item in items:
                row = rows.get(item.id)
                if row is not None:
                    self._decide(task, item, row, index, current)
        d.flush()

    def end(self) -> None:
        """The import is over: finish every move, summarise, refresh mirrors."""
        self.departures.flush(force=True)
        self.fingerprints.close()
        self.loader.shutdown(wait=True, cancel_futures=True)
        t = self.tally
        if t.fingerprinted or t.failed:
            ui.print_(t.line())
            for new_id, old_id, similarity in t.uncertain:
                ui.print_(
                    f"  undecided (imported, nothing moved): {self._shown(new_id)} "
                    f"~ {self._shown(old_id)} (similarity {similarity:.2f})"
                )
        if self.changed or self.departures.moved:
            self.plugin.after_change(self.lib)
        if t.errors:
            # Everything else was done; the warnings above say why.
            raise UserError(
                f"dedupfuzzy: {t.errors} library cop(ies) could not be moved to "
                "the quarantine and stay in the library"
            )

    def _shown(self, item_id: int) -> str:
        item = self.lib.get_item(item_id)
        return shown(item.path) if item else f"item {item_id} (gone)"

    # Matching and deciding.

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

    def _matches(self, row: Row, index: LibraryIndex) -> list[Match]:
        """The copies this row duplicates, still in the library, not kept apart."""
        matches = [
            m
            for m in index.match_row(row, {row.id})
            if (min(m.a, m.b), max(m.a, m.b)) not in self.distinct
        ]
        # beets itself may have removed some (`duplicate_action: remove`).
        present = _present(self.lib, [m.b for m in matches])
        for m in matches:
            if m.b not in present:
                index.discard(m.b)
        return [m for m in matches if m.b in present]

    def _decide(
        self, task, item: Item, row: Row, index: LibraryIndex, current: dict
    ) -> None:
        same = index.id_of_path(row.path)
        if same is not None and same != item.id:
            index.discard(same)  # a re-import replaced that row
        matches = self._matches(row, index)
        verdict: Verdict | None = KEEP_ALL
        if matches:
            verdict = self._verdict(item, row, matches, index)
            if (
                verdict is not None
                and verdict.new_leaves
                and task.duplicate_action
                in (DuplicateAction.REMOVE, DuplicateAction.UPGRADE)
            ):
                verdict = KEEP_ALL  # beets replaces the old copies with this one
            if verdict is None:
                best = matches[0]
                self.tally.uncertain.append((best.a, best.b, best.similarity))
            else:
                self.tally.duplicates += 1
                self.tally.kept += verdict.keeps_all
        self._apply(task, item, row, index, current, verdict or KEEP_ALL)

    def _verdict(
        self, item: Item, row: Row, matches: list[Match], index: LibraryIndex
    ) -> Verdict | None:
        asked = self.answers.pop(id(item), None)
        if asked is not None:
            _, answer, ids = asked
            chosen = [m for m in matches if m.b in ids] or matches
            if answer == deciding.prompts.BOTH:
                for m in chosen:  # both stay, on purpose: never ask again
                    decisions.mark_distinct(self.lib, m.a, m.b)
                    self.distinct.add((min(m.a, m.b), max(m.a, m.b)))
                    index.mark_distinct(m.a, m.b)
            return deciding.verdict_of_answer(answer, chosen)
        certain = self._certain(row, matches, index)
        if self.policy.asks(matches, certain):
            # Found after its question could be asked (a copy imported
            # earlier in this same import): nobody judged it.
            return None
        return self.policy.automatic(row, [index.row(m.b) for m in certain])

    def _certain(
        self, row: Row, matches: list[Match], index: LibraryIndex
    ) -> list[Match]:
        """The strong matches the new copy would be grouped with: only these
        are acted on without a question (the clique rule)."""
        group = index.clique_of(row, matches)
        return [m for m in strong(matches, self.policy.match) if m.b in group]

    def _apply(
        self,
        task,
        item: Item,
        row: Row,
        index: LibraryIndex,
        current: dict[int, Item],
        verdict: Verdict,
    ) -> None:
        d = self.departures
        with d.lock:
            if verdict.new_leaves:
                self._leave_from_task(task, item)
            else:
                index.add(row)
                current[item.id] = item
                d.in_flight.add(item.id)
            for old_id in verdict.leaving:
                index.discard(old_id)
                if old_id in current:
                    self._leave_from_task(task, current.pop(old_id))
                else:
                    d.add(old_id, QUARANTINED)

    def _leave_from_task(self, task, item: Item) -> None:
        take_out(task, item)
        self.departures.in_flight.discard(item.id)
        self.departures.add(item.id, self.mode.new_copy_fate, task)


def _present(lib: Library, ids: list[int]) -> set[int]:
    """Which of these items are still in the library."""
    if not ids:
        return set()
    marks = ", ".join("?" * len(ids))
    with lib.transaction() as tx:
        rows = tx.query(f"SELECT id FROM items WHERE id IN ({marks})", ids)
    return {r[0] for r in rows}
