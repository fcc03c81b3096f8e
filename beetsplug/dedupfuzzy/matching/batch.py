"""A run's matching of its dirty items: their candidate pairs, verified.

`beet dedupfuzzy` matches the items that changed since the model was last
stored (all of them on a first run) against the whole library: candidate
pairs from the shared candidate search, in batch mode when the dirty items
are many and by one query each otherwise; then each pair verified, a chunk
of fingerprints at a time, their heads aligned by worker processes when
the pairs are many (`workers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from beets.library import Library

from ..stages import Step, nothing
from ..store import fields
from ..store.frames import FrameSource
from . import blockindex, similarity
from . import matcher as matching
from . import workers as parallel
from .candidates import CandidateIndex
from .sharedkeys import with_hints

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
