"""Every item's sketch for a run: cached, stored, or made from its fingerprint.

A run that matches anything needs the sketch of every item of the library:
most come from the binary cache (`store.sketchcache`), the others from the
stored text, and those missing or of another version (a first run: all of
them) are made from the fingerprints, a chunk at a time, by worker processes.
A worker reads its chunk's fingerprints on a connection of its own and
writes the frames it decodes on the way to the run's frame file
(`store.framefile`), for the rest of the run: aligning and deciding pairs
then decodes nothing again. Only the sketches come back to this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from beets.library import Library

from ..matching import blockindex
from ..matching import workers as parallel
from ..stages import Stages, Step, quiet
from ..store import catalog, fields, sketchcache
from ..store.framefile import FrameFile
from .refresh import frames_of_fingerprint, sketches_of

# Fingerprints read and sketched per job: a million at once would not fit in
# memory.
SKETCH_CHUNK = 2000


@dataclass
class Sketched:
    """A chunk of fingerprints sketched (in a worker): each one's stored
    sketch as text and as a table row, and where its frames went in the
    frame file (`start`, None when not kept; `counts` frames each, end to
    end, of the readable fingerprints at `decoded`)."""

    texts: list[str]
    table: blockindex.SketchTable
    decoded: list[int]
    start: int | None
    counts: np.ndarray


def sketch_chunk(
    lib: Library, ids: Sequence[int], frame_file: FrameFile | None
) -> Sketched:
    """Read, decode and sketch these items' fingerprints (in a worker, on its
    own connection); keep their frames in `frame_file`."""
    found = catalog.load_texts(lib, ids, fields.FINGERPRINT)
    frames = [frames_of_fingerprint(found.get(i, "")) for i in ids]
    readable = [f for f in frames if f is not None]
    made = iter(sketches_of(readable))
    sketches = [blockindex.EMPTY if f is None else next(made) for f in frames]
    texts = blockindex.SketchTable.of(sketches).encode()
    start = None
    if frame_file is not None:
        start = frame_file.write(
            np.concatenate(readable) if readable else np.zeros(0, np.uint32)
        )
    return Sketched(
        texts=texts,
        # What a run reads back from the stored texts (profiles quantised).
        table=blockindex.SketchTable.decode(texts),
        decoded=[k for k, f in enumerate(frames) if f is not None],
        start=start,
        counts=np.array([len(f) for f in readable], np.int64),
    )


# What the forked workers sketch with (set in the parent before forking).
_library: tuple[bytes | str, str] | None = None
_frame_file: FrameFile | None = None
# A worker's own connection.
_own: Library | None = None


def _start() -> None:
    global _own
    assert _library is not None
    _own = Library(*_library, set_music_dir=False)


def _sketch_in_worker(ids: list[int]) -> Sketched:
    assert _own is not None
    return sketch_chunk(_own, ids, _frame_file)


def load_sketches(
    lib: Library,
    rows: Sequence[fields.Row],
    workers: int = 1,
    frame_file: FrameFile | None = None,
    stages: Stages = quiet,
) -> blockindex.SketchTable:
    """Every row's sketch, in the rows' order: cached, stored, else computed
    (and stored); the ones not cached yet are cached (`sketchcache`).

    Fingerprints are read a chunk at a time (a million of them would not fit
    in memory at once) and sketched by `workers` processes; the frames they
    decode are kept in `frame_file`, when given, for the rest of the run;
    `stages` hears of the sketching.
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
    with stages("sketching", len(stale)) as step:
        _sketch_stale(lib, rows, table, stale, workers, frame_file, step)
    sketchcache.remember(lib, ids, fp_mtimes, table, uncached)
    return table


def _sketch_stale(
    lib: Library,
    rows: Sequence[fields.Row],
    table: blockindex.SketchTable,
    stale: list[int],
    workers: int,
    frame_file: FrameFile | None,
    step: Step,
) -> None:
    """Sketch the rows whose sketch is missing or of another version."""
    global _library, _frame_file
    chunks = [stale[i : i + SKETCH_CHUNK] for i in range(0, len(stale), SKETCH_CHUNK)]

    def store(chunk: list[int], sketched: Sketched) -> None:
        table.take(chunk, sketched.table)
        catalog.store_flex(
            lib,
            [
                (rows[k].id, fields.BLOCKS, t)
                for k, t in zip(chunk, sketched.texts, strict=True)
            ],
        )
        if frame_file is not None:
            frame_file.record(
                [rows[chunk[k]].id for k in sketched.decoded],
                sketched.start,
                sketched.counts,
            )
        step(len(chunk))

    def ids_of(chunk: list[int]) -> list[int]:
        return [rows[k].id for k in chunk]

    in_memory = catalog.database_file(lib.path) is None
    if workers < 2 or len(chunks) < 2 or in_memory or not parallel.available():
        for chunk in chunks:
            store(chunk, sketch_chunk(lib, ids_of(chunk), frame_file))
        return
    if frame_file is not None:
        frame_file.share()
    _library, _frame_file = (lib.path, lib.directory), frame_file
    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start,
        ) as pool:
            pending = []
            for chunk in chunks:
                pending.append((chunk, pool.submit(_sketch_in_worker, ids_of(chunk))))
                if len(pending) > 2 * workers:
                    done, future = pending.pop(0)
                    store(done, future.result())
            for done, future in pending:
                store(done, future.result())
    finally:
        _library = _frame_file = None
