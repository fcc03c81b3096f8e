"""Every item's sketch for a run: cached, stored, or made from its fingerprint.

A run that matches anything needs the sketch of every item of the library:
most come from the binary cache (`store.sketchcache`), the others from the
stored text, and those missing or of another version (a first run: all of
them) are made from the fingerprints, a chunk at a time, by worker processes.
The frames a worker decodes on the way go back with the sketches, for the
rest of the run (`store.framefile`): aligning and deciding pairs then decodes
nothing again.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from beets.library import Library

from ..matching import blockindex
from ..store import catalog, fields, sketchcache
from ..store.framefile import FrameFile
from .refresh import frames_of_fingerprint, sketches_of

# Fingerprints read and sketched per job: a million at once would not fit in
# memory.
SKETCH_CHUNK = 2000


@dataclass
class Sketched:
    """A chunk of fingerprints sketched (in a worker): each one's stored
    sketch, and the frames decoded on the way, end to end (`FrameFile.add`)."""

    texts: list[str]
    decoded: list[int]  # positions in the chunk of the readable fingerprints
    frames: np.ndarray
    counts: np.ndarray


def sketch_texts(prints: list[str]) -> Sketched:
    """The stored form of each fingerprint's sketch (runs in worker processes)."""
    frames = [frames_of_fingerprint(f) for f in prints]
    readable = [f for f in frames if f is not None]
    made = iter(sketches_of(readable))
    return Sketched(
        texts=[
            blockindex.encode_sketch(blockindex.EMPTY if f is None else next(made))
            for f in frames
        ],
        decoded=[k for k, f in enumerate(frames) if f is not None],
        frames=np.concatenate(readable) if readable else np.zeros(0, np.uint32),
        counts=np.array([len(f) for f in readable], np.int64),
    )


def load_sketches(
    lib: Library,
    rows: Sequence[fields.Row],
    workers: int = 1,
    frame_file: FrameFile | None = None,
) -> blockindex.SketchTable:
    """Every row's sketch, in the rows' order: cached, stored, else computed
    (and stored); the ones not cached yet are cached (`sketchcache`).

    Fingerprints are read a chunk at a time (a million of them would not fit
    in memory at once) and sketched by `workers` processes; the frames they
    decode are kept in `frame_file`, when given, for the rest of the run.
    """
    ids = [r.id for r in rows]
    fp_mtimes = [r.fp_mtime for r in rows]
    table = sketchcache.load(lib, ids, fp_mtimes)
    uncached = np.flatnonzero(table.counts < 0).tolist()
    for k, row in enumerate(rows):
        if row.sketch is not None:
            table.put(k, row.sketch)
    unread = [k for k in uncached if table.counts[k] < 0]
    if unread:
        texts = catalog.load_texts(lib, [ids[k] for k in unread], fields.BLOCKS)
        table.take(
            unread, blockindex.SketchTable.decode([texts.get(ids[k]) for k in unread])
        )
    stale = np.flatnonzero(table.counts < 0).tolist()
    _sketch_stale(lib, rows, table, stale, workers, frame_file)
    sketchcache.remember(lib, ids, fp_mtimes, table, uncached)
    return table


def _sketch_stale(
    lib: Library,
    rows: Sequence[fields.Row],
    table: blockindex.SketchTable,
    stale: list[int],
    workers: int,
    frame_file: FrameFile | None,
) -> None:
    """Sketch the rows whose sketch is missing or of another version."""
    chunks = [stale[i : i + SKETCH_CHUNK] for i in range(0, len(stale), SKETCH_CHUNK)]

    def prints_of(chunk: list[int]) -> list[str]:
        ids = [rows[k].id for k in chunk]
        found = catalog.load_texts(lib, ids, fields.FINGERPRINT)
        return [found.get(i, "") for i in ids]

    def store(chunk: list[int], sketched: Sketched) -> None:
        table.take(chunk, blockindex.SketchTable.decode(sketched.texts))
        catalog.store_flex(
            lib,
            [
                (rows[k].id, fields.BLOCKS, t)
                for k, t in zip(chunk, sketched.texts, strict=True)
            ],
        )
        if frame_file is not None:
            frame_file.add(
                [rows[chunk[k]].id for k in sketched.decoded],
                sketched.frames,
                sketched.counts,
            )

    if workers < 2 or len(chunks) < 2:
        for chunk in chunks:
            store(chunk, sketch_texts(prints_of(chunk)))
        return
    with ProcessPoolExecutor(workers) as pool:
        pending = []
        for chunk in chunks:
            pending.append((chunk, pool.submit(sketch_texts, prints_of(chunk))))
            if len(pending) > workers:
                done, future = pending.pop(0)
                store(done, future.result())
        for done, future in pending:
            store(done, future.result())
