"""One pass over the library: fingerprint what changed, update the model, group.

This is the pipeline `beet dedupfuzzy` runs before it shows or does
anything. The recording model (`store.recordings`) remembers the groups: a
run matches only the *dirty* items (new, re-fingerprinted, restored, or all
of them after the settings changed), each against the whole library
through the shared candidate search, and regroups what they touch. With
nothing dirty it matches nothing and the groups come from the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from beets.library import Library

from . import heap
from .cli.progress import drawn
from .fingerprinting import refresh as fingerprints
from .fingerprinting.excerpts import ExcerptSource
from .fingerprinting.sketching import load_sketches
from .matching import cliques, groups
from .matching import matcher as matching
from .matching.batch import candidate_pairs, verify_in_chunks, worker_frames
from .matching.candidates import CandidateIndex
from .matching.rows import Tracks
from .quality import tiebreaker
from .settings import MatchSettings, Settings
from .stages import Stages, Step, quiet
from .store import catalog, fields, paircache, recordings, rowcache
from .store.framefile import FrameFile
from .store.frames import FrameSource

log = logging.getLogger("beets")


@dataclass
class ScanResult:
    rows: dict[int, fields.Row]
    refresh: fingerprints.RefreshReport
    groups: list[groups.ResolvedGroup]
    considered: int
    matched: int = 0


def update_model(
    lib: Library,
    rows: dict[int, fields.Row],
    token: str,
    settings: MatchSettings,
    distinct: Callable[[int, int], bool],
    workers: int = 1,
    stages: Stages = quiet,
) -> tuple[dict[int, int], list[matching.Match], int]:
    """Match the dirty rows, regroup what they touch, store the result
    (`stages` hears of the sketching, the search and the verifying).

    Returns the recordings (item id -> recording id), the matches of the
    model and how many items were matched.
    """
    dirty = {i for i, r in rows.items() if r.matched != token}
    remembered = paircache.load(lib)
    known = [
        m
        for m in remembered
        if m.a in rows
        and m.b in rows
        and m.a not in dirty
        and m.b not in dirty
        and not distinct(m.a, m.b)
    ]
    old = {i: r.recording for i, r in rows.items() if r.recording is not None}
    if not dirty:
        return old, known, 0
    # Rows are of items in the library: only a match of another item can
    # concern one that left (a million items' check in SQL costs 3 s).
    if any(m.a not in rows or m.b not in rows for m in remembered):
        paircache.prune(lib)
    del remembered
    with FrameFile(catalog.beside_library(lib)) as frame_file:
        listed = list(rows.values())
        with _timed("sketches (sketching included)"):
            table = load_sketches(lib, listed, workers, frame_file, stages)
        silent = {
            r.id for r, n in zip(listed, table.counts.tolist(), strict=True) if n <= 0
        }
        # Most libraries have no silent item: then no copy of a million rows.
        informative = (
            {i: r for i, r in rows.items() if i not in silent} if silent else rows
        )

        frames = FrameSource(lib, decoded=frame_file)
        for row in listed:
            if row.fingerprint:
                frames.given[row.id] = row.fingerprint
        audio = ExcerptSource()
        verifier = matching.Verifier(
            Tracks(informative),
            frames,
            settings,
            distinct=distinct,
            audio=audio,
        )
        index = CandidateIndex(
            [r.id for r in listed],
            [r.length for r in listed],
            table,
            settings.length_tolerance,
        )
        with stages("searching", 1) as step:
            pairs, hints = candidate_pairs(
                index,
                dirty - silent,
                table,
                listed,
                informative,
            )
            step(1)
        # Done with: freed before the aligning workers are forked (each would
        # keep and count a share of them).
        del index, table
        with stages("verifying", len(pairs)) as step:
            found = verify_in_chunks(
                pairs,
                hints,
                verifier,
                frames,
                workers,
                worker_frames(lib, frames),
                step,
            )
        everything = known + found
        touched = cliques.affected(
            dirty - silent, old, everything, settings.auto_threshold
        )
        touched = {i for i in touched if i in informative}
        allocator = recordings.Allocator(lib, old.values())
        kept_old = (
            {i: rec for i, rec in old.items() if i in informative} if silent else old
        )
        with _timed("regrouping"):
            fresh = cliques.regroup(touched, kept_old, everything, verifier, allocator)
        if audio.decoded:
            log.debug(
                "dedupfuzzy: {} excerpts decoded for endings and speed in {:.2f} s",
                audio.decoded,
                audio.seconds_spent,
            )
        # Matches verified on demand while regrouping join the model too.
        computed = [m for m in verifier.computed.values() if m is not None]
        with _timed("storing the model"):
            recordings.save(
                lib,
                token,
                dirty,
                fresh,
                old,
                allocator,
                computed,
                unmatched=[i for i in silent if i in old],
                current=True,  # rows this run read; each run checks their files
            )
        result = dict(kept_old)
        for i in touched:
            result.pop(i, None)
        result.update(fresh)
        merged = {frozenset((m.a, m.b)): m for m in known}
        merged.update((frozenset((m.a, m.b)), m) for m in computed)
        return result, list(merged.values()), len(dirty)


@contextmanager
def _timed(label: str) -> Iterator[None]:
    """Log how long a part of the run took (`beet -v`: where a large
    library's first run goes)."""
    start = time.perf_counter()
    yield
    log.debug("dedupfuzzy: {} took {:.1f} s", label, time.perf_counter() - start)


@contextmanager
def _stage(label: str, total: int) -> Iterator[Step]:
    """A stage of the command's run: drawn on a terminal, and its time
    logged when it had work."""
    timed = _timed(f"{label} ({total})") if total else nullcontext()
    with drawn(label, total) as step, timed:
        yield step


def scan(
    lib: Library,
    ids: list[int] | None,
    settings: Settings,
    distinct: Callable[[int, int], bool] = lambda a, b: False,
) -> ScanResult:
    """Fingerprint, match and group the given items (all when `ids` is None).

    The model covers every fingerprinted item of the library; only the
    given items are fingerprinted and shown.
    """
    # The rows live as long as the run: the cyclic collector need not walk
    # them, neither while they are made (a third of reading them) nor at
    # each later collection.
    with heap.uncollected(), _timed("reading rows"):
        every, fresh = rowcache.load_all_rows(lib)
    with heap.kept_for_the_run():
        return _scan_rows(lib, every, fresh, ids, settings, distinct)


def _scan_rows(
    lib: Library,
    every: list[fields.Row],
    fresh: set[int],
    ids: list[int] | None,
    settings: Settings,
    distinct: Callable[[int, int], bool],
) -> ScanResult:
    wanted = None if ids is None else set(ids)
    chosen = [r for r in every if wanted is None or r.id in wanted]
    # Cached rows whose files changed are read again.
    with _timed("checking files"):
        chosen, mtimes = rowcache.checked(lib, chosen, fresh)
    again = {r.id: r for r in chosen}
    every = [again.get(r.id, r) for r in every]
    with _timed("fingerprints (reading files and fingerprinting included)"):
        usable, refresh = fingerprints.refresh(
            lib,
            chosen,
            settings.workers,
            check_lossless=settings.check_lossless,
            mtimes=mtimes,
            stages=_stage,
        )
    failed = {r.id for r in chosen} - {r.id for r in usable}
    model_rows = {r.id: r for r in every if r.has_fingerprint and r.id not in failed}
    model_rows.update((r.id, r) for r in usable)
    token = recordings.prepare(lib, settings.match)
    recs, matches, matched = update_model(
        lib, model_rows, token, settings.match, distinct, settings.workers, _stage
    )
    by_id = {r.id: r for r in usable}
    refresh.quiet = [r.path for r in usable if r.id not in recs]
    shown = {i: rec for i, rec in recs.items() if i in by_id}
    found = cliques.groups_of(shown, [m for m in matches if not distinct(m.a, m.b)])
    tiebreak_fields = settings.tiebreak.get("items", [])
    resolved = groups.resolve(
        found, by_id, settings.keep, tiebreaker(lib, tiebreak_fields)
    )
    with _timed("caching rows"):
        rowcache.refill_cache(lib)  # the items this run changed
    return ScanResult(by_id, refresh, resolved, len(chosen), matched)
