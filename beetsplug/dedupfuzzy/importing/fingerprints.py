"""Fingerprints of what an import brings in: started early, stored once.

fpcalc starts on a task's files as soon as beets creates the task, so its
work overlaps autotagging and the rest of the pipeline. A fingerprint
already stored and still fresh (a re-import) or computed by the chroma
plugin in this import is reused instead of decoding again.

chroma's fingerprint is read where chroma publishes it: on the item, in
`acoustid_fingerprint`, which chroma sets at `import_task_apply` (before
the hook's import stage). A value the file's tags already carried when the
task was created is not chroma's work and is not trusted.

Lossless files get the lossless check (analysis/) in the same workers, from
the same decode where it can be (`fingerprinting.work.do_task`), and its
verdict is stored with the fingerprint, before the keeper decides: a fake
lossless copy never wins on import.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from typing import TYPE_CHECKING

from beets import config, plugins
from beets.library import Item, Library

from ..analysis import analyse_file
from ..display import shown
from ..fingerprinting import freshness
from ..fingerprinting import refresh as fingerprints
from ..fingerprinting.fpcalc import FpcalcResult, fingerprint_file
from ..fingerprinting.work import Outcome, Task, do_task, needs_check
from ..matching import blockindex
from ..store.fields import (
    AUDIO_ID,
    BLOCKS,
    CUTOFF,
    FINGERPRINT,
    FP_COPY,
    FP_MTIME,
    LOSSLESS,
    MATCHED,
    SOURCE,
    Row,
)
from ..store.rowsync import uncache
from .tally import Tally

if TYPE_CHECKING:
    from ..analysis.verdict import Analysis


def _chroma_fingerprints_tasks() -> bool:
    """Whether chroma will fingerprint each task itself at `import_task_start`."""
    loaded = any(p.name == "chroma" for p in plugins.find_plugins())
    return (
        loaded
        and config["chroma"]["auto"].get(bool)
        and config["import"]["autotag"].get(bool)
    )


def row_of(item: Item, fingerprint: str, item_id: int | None = None) -> Row:
    """The item as the matcher sees it (`item_id` for one not yet added)."""
    return Row(
        id=item.id if item_id is None else item_id,
        path=item.path,
        length=float(item.length or 0.0),
        format=item.format or "",
        bitrate=int(item.bitrate or 0),
        bitdepth=int(item.bitdepth or 0),
        samplerate=int(item.samplerate or 0),
        mtime=float(item.mtime or 0.0),
        fingerprint=fingerprint,
        fp_mtime=item.get(FP_MTIME),
        blocks=item.get(BLOCKS) or "",
        audio_id=item.get(AUDIO_ID) or "",
        lossless=item.get(LOSSLESS) or "",
        cutoff=int(item.get(CUTOFF) or 0),
        likely_source=item.get(SOURCE) or "",
    )


def _part(job: Future[Outcome], name: str) -> Future:
    """A future for one part of a task's outcome ("fpcalc" or "analysis")."""
    part: Future = Future()

    def done(finished: Future[Outcome]) -> None:
        try:
            if finished.cancelled():
                part.cancel()
            elif finished.exception() is not None:
                part.set_exception(finished.exception())
            else:
                part.set_result(getattr(finished.result(), name))
        except InvalidStateError:  # the part was cancelled: not wanted
            pass

    job.add_done_callback(done)
    return part


class FingerprintSource:
    def __init__(
        self, lib: Library, command: str, workers: int, check_lossless: bool = True
    ) -> None:
        self.lib = lib
        self.command = command
        self.check_lossless = check_lossless
        self.chroma_does_it = _chroma_fingerprints_tasks()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="dedupfuzzy-fpcalc")
        self.futures: dict[bytes, Future[FpcalcResult]] = {}
        self.results: dict[bytes, FpcalcResult] = {}
        self.analyses: dict[bytes, Future[Analysis]] = {}
        self.lock = threading.Lock()
        self.fingerprinted: set[int] = set()
        # What each new file's tags said its fingerprint was, by path.
        self.tagged: dict[bytes, str] = {}

    def start(self, items: list[Item]) -> None:
        with self.lock:
            for item in items:
                path = item.path
                self.tagged[path] = item.get(FINGERPRINT) or ""
                if not self.chroma_does_it and path not in self.futures:
                    if self._checks(item) and path not in self.analyses:
                        self._start_both(item)
                        continue
                    self.futures[path] = self.pool.submit(
                        fingerprint_file, self.command, path
                    )
                self._start_analysis(item)

    def _checks(self, item: Item, verdict: str = "", fresh: bool = False) -> bool:
        return needs_check(item.format or "", verdict, not fresh, self.check_lossless)

    def _start_both(self, item: Item) -> None:
        """Fingerprint and check from one decode (under the lock)."""
        task = Task(
            item.path,
            fingerprint=True,
            analyse=True,
            length=float(item.length or 0.0),
            samplerate=int(item.samplerate or 0),
        )
        job = self.pool.submit(do_task, self.command, task)
        self.futures[item.path] = _part(job, "fpcalc")
        self.analyses[item.path] = _part(job, "analysis")

    def _start_analysis(self, item: Item) -> None:
        """The lossless check of a lossless item, in the same workers (under
        the lock)."""
        if self._checks(item) and item.path not in self.analyses:
            self.analyses[item.path] = self.pool.submit(
                analyse_file,
                item.path,
                float(item.length or 0.0),
                int(item.samplerate or 0),
            )

    def analysis(self, item: Item) -> Analysis | None:
        """The verdict on a lossless item's file (waiting for it), or None:
        not lossless, not checked, or already judged and still fresh."""
        verdict = item.get(LOSSLESS) or ""
        # a re-import: the stored verdict stands
        if not self._checks(item, verdict, bool(verdict and self._reusable(item))):
            return None
        with self.lock:
            self._start_analysis(item)
            future = self.analyses[item.path]
        return future.result()

    def _reusable(self, item: Item) -> str:
        """A fingerprint that needs no decode: ours, stored and fresh (a
        re-import), or chroma's from this import (once chroma applied it;
        before that, as when asking at `import_task_choice`, fpcalc runs).
        One read from the file's tags is not trusted: a converted or edited
        copy may carry the tags, fingerprint included, of the file it was
        made from."""
        fingerprint = item.get(FP_COPY) or ""
        if fingerprint and item.id is not None and item.get(FP_MTIME) is not None:
            row = row_of(item, fingerprint)
            if freshness.check(row, freshness.file_mtime(item.path)).fresh:
                return fingerprint
        if self.chroma_does_it:
            # Set by chroma at `import_task_apply` from the file's audio.
            value = item.get(FINGERPRINT) or ""
            with self.lock:
                tagged = self.tagged.get(item.path, "")
            if value and value != tagged:
                return value
        return ""

    def result(self, item: Item) -> FpcalcResult:
        """The fpcalc result for the item's file, waiting for it if needed."""
        path = item.path
        reused = self._reusable(item)
        with self.lock:
            future = self.futures.pop(path, None)
            done = self.results.get(path)
            if reused:
                if future is not None:
                    future.cancel()
                return FpcalcResult(path, fingerprint=reused)
            if done is not None:
                return done
            if future is None:
                future = self.pool.submit(fingerprint_file, self.command, path)
        result = future.result()
        with self.lock:
            self.results[path] = result
        return result

    def get(self, item: Item) -> str:
        result = self.result(item)
        return result.fingerprint if result.ok else ""

    def store(self, items: list[Item], tally: Tally, log=None) -> dict[int, Row]:
        """Fingerprints of the items, stored on them; the usable ones as rows."""
        known: dict[int, str] = {}
        verdicts: dict[int, Analysis | None] = {}
        for item in items:
            result = self.result(item)
            with self.lock:
                self.results.pop(item.path, None)
            if result.ok:
                known[item.id] = result.fingerprint
                # waited for here, not inside the transaction below
                verdicts[item.id] = self.analysis(item)
                with self.lock:
                    self.analyses.pop(item.path, None)
            else:
                tally.failed += 1
                if log is not None:
                    log.warning("{}: {}", shown(item.path), result.error)
        rows: dict[int, Row] = {}
        with self.lib.transaction():
            for item in items:
                fingerprint = known.get(item.id)
                if not fingerprint:
                    continue
                frames = fingerprints.frames_of_fingerprint(fingerprint)
                if frames is None:
                    tally.failed += 1
                    continue
                analysis = verdicts.get(item.id)
                if analysis is not None and analysis.ok:
                    item.update(fingerprints.analysis_fields(analysis))
                elif analysis is not None and log is not None:
                    log.debug(
                        "{}: lossless check: {}", shown(item.path), analysis.error
                    )
                item[FINGERPRINT] = fingerprint
                item[FP_COPY] = fingerprint
                item[BLOCKS] = blockindex.encode_sketch(fingerprints.sketch_of(frames))
                item[AUDIO_ID] = freshness.audio_identity(item.path)
                item[MATCHED] = ""  # to be matched (see store.recordings)
                mtime = freshness.file_mtime(item.path)
                if mtime is not None:
                    item[FP_MTIME] = mtime
                item.store()
                self.fingerprinted.add(item.id)
                tally.fingerprinted += 1
                rows[item.id] = row_of(item, fingerprint)
            # Stored through beets: a row cached meanwhile (the library index,
            # loading in its thread, may have read the item before) is stale.
            uncache(self.lib, rows)
        return rows

    def note_placed(self, items: list[Item]) -> None:
        """The files are where beets put them (perhaps rewritten): record the
        mtimes, so a later `beet dedupfuzzy` decodes nothing."""
        with self.lib.transaction():
            for item in items:
                if item.id not in self.fingerprinted:
                    continue
                mtime = freshness.file_mtime(item.path)
                if mtime is not None:
                    item[FP_MTIME] = mtime
                    item.store()
                    uncache(self.lib, [item.id])

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
