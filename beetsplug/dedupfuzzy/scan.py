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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from beets.library import Library

from . import heap
from .cli.progress import drawn
from .fingerprinting import refresh as fingerprints
from .fingerprinting.excerpts import ExcerptSource
from .fingerprinting.sketching import load_sketches
from .matching import blockindex, cliques, groups, similarity
from .matching import matcher as matching
from .matching import workers as parallel
from .matching.candidates import CandidateIndex
from .matching.sharedkeys import with_hints
from .quality import tiebreaker
from .settings import MatchSettings, Settings
from .stages import Stages, Step, nothing, quiet
from .store import catalog, fields, paircache, recordings, rowcache
from .store.framefile import FrameFile
from .store.frames import FrameSource

log = logging.getLogger("beets")

# Above this share of dirty items, one batch search beats one query each.
BATCH_SHARE = 0.2
# Pairs verified per batch of fingerprints read from the DB.
VERIFY_CHUNK = 4000
# Pairs per job of a verifying worker, and fewer pairs than this are
# verified here (forking costs more than they do).
ALIGN_CHUNK = 1000
PARALLEL_PAIRS = 20_000
# Fingerprints each worker keeps decoded: a job of ALIGN_CHUNK pairs of
# about one length holds at most twice as many tracks.
WORKER_FRAMES = 2500


@dataclass
class ScanResult:
    rows: dict[int, fields.Row]
    refresh: fingerprints.RefreshReport
    groups: list[groups.ResolvedGroup]
    considered: int
    matched: int = 0


def track_of(
    row: fields.Row, sketch: blockindex.Sketch | None = None
) -> matching.Track:
    """What matching needs of a row; the sketch given, decoded or stored."""
    if sketch is None:
        sketch = (
            row.sketch
            if row.sketch is not None
            else blockindex.decode_sketch(row.blocks)
        )
    return matching.Track(
        id=row.id,
        path=row.path,
        length=row.length,
        format=row.format,
        bitrate=row.bitrate,
        bitdepth=row.bitdepth,
        samplerate=row.samplerate,
        sketch=sketch,
    )


class Tracks(dict):
    """Track records built on first use from rows (most are never needed)."""

    def __init__(self, rows: dict[int, fields.Row]) -> None:
        super().__init__()
        self.rows = rows

    def __missing__(self, item_id: int) -> matching.Track:
        track = track_of(self.rows[item_id], blockindex.EMPTY)
        track.sketch = None  # an indexed track: its sketch is not empty
        self[item_id] = track
        return track


def candidate_pairs(
    index: CandidateIndex,
    dirty: set[int],
    table: blockindex.SketchTable,
    listed: Sequence[fields.Row],
    rows: dict[int, fields.Row],
) -> tuple[list[tuple[int, int]], Mapping[tuple[int, int], list[int]]]:
    """Candidate pairs with at least one dirty item (`table` holds the
    sketches of `listed`, row by row): batch mode when they are many, else
    their queries at once (query mode, the only one that takes their
    sketches out of the table: a million of them would hold a gigabyte)."""
    if len(dirty) > BATCH_SHARE * max(1, len(index)):
        found = index.pairs()
        pairs = [p for p in found.pairs if p[0] in dirty or p[1] in dirty]
        return pairs, found.hints
    wanted: set[tuple[int, int]] = set()
    hints: dict[tuple[int, int], list[int]] = {}
    position = {r.id: k for k, r in enumerate(listed) if r.id in dirty}
    order = sorted(dirty)
    answers = index.query_many(
        [
            (table.sketch(position[i]) or blockindex.EMPTY, rows[i].length, {i})
            for i in order
        ]
    )
    for item_id, found in zip(order, answers, strict=True):
        for other, shifts in found.items():
            pair = (item_id, other) if item_id < other else (other, item_id)
            wanted.add(pair)
            if shifts and pair not in hints:
                hints[pair] = shifts if pair[0] == item_id else [-s for s in shifts]
    return sorted(wanted), hints


def verify_in_chunks(
    pairs: Sequence[tuple[int, int]],
    hints: Mapping[tuple[int, int], list[int]],
    verifier: matching.Verifier,
    frames: FrameSource,
    workers: int = 1,
    open_frames: Callable[[], FrameSource] | None = None,
    step: Step = nothing,
) -> list[matching.Match]:
    """Verify pairs, reading their fingerprints from the DB a chunk at a time.

    Pairs go in order of length: both tracks of a pair have about the same
    length, so the frames in memory serve the next pairs too. With several
    `workers` (and enough pairs), the pairs are aligned in worker processes
    that read their own frames (`open_frames`); this process reads only the
    frames of the pairs that aligned, for the rest of their verdict.
    `step` is told how many pairs each chunk verified.
    """
    pairs = sorted(pairs, key=lambda p: verifier.tracks[p[0]].length)
    chunks = [
        pairs[start : start + VERIFY_CHUNK]
        for start in range(0, len(pairs), VERIFY_CHUNK)
    ]
    found: list[matching.Match] = []
    if (
        workers < 2
        or open_frames is None
        or len(pairs) < PARALLEL_PAIRS
        or not parallel.available()
    ):
        for chunk in chunks:
            frames.prefetch(i for pair in chunk for i in pair)
            found += matching.verify_pairs(chunk, hints, verifier)
            step(len(chunk))
        return found
    with parallel.pool(verifier, workers, open_frames) as aligner:
        jobs = []
        for chunk in chunks:
            asked = parallel.pending(verifier, with_hints(chunk, hints))
            parts = [
                asked[start : start + ALIGN_CHUNK]
                for start in range(0, len(asked), ALIGN_CHUNK)
            ]
            jobs.append((chunk, [(part, aligner.submit(part)) for part in parts]))
        for chunk, parts in jobs:
            aligned = [p for part, job in parts for p in aligner.collect(part, job)]
            frames.prefetch(i for a, b, _ in aligned for i in (a, b))
            # The pairs their alignment turned down are decided already. The
            # others' hints are looked up again: holding every waiting chunk's
            # pairs with their hints cost 100 MB at a million items.
            found += matching.verify_pairs(
                [p for p in chunk if not verifier.turned_down(*p)], hints, verifier
            )
            step(len(chunk))
    return found


def worker_frames(lib: Library, frames: FrameSource) -> Callable[[], FrameSource]:
    """What a verifying worker reads frames from: a connection of its own,
    and the fingerprints this run decoded (their heads: a worker aligns heads
    only)."""

    def open_frames() -> FrameSource:
        own = Library(lib.path, lib.directory, set_music_dir=False)
        source = FrameSource(
            own,
            capacity=WORKER_FRAMES,
            decoded=frames.decoded,
            limit=similarity.HEAD_FRAMES,
        )
        source.given = frames.given
        return source

    return open_frames


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
