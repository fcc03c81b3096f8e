"""Keep every item's fingerprint and sketch current, decoding only what changed.

A stored fingerprint is reused while its file is unchanged: its mtime equals
the one recorded when the fingerprint was taken (`dedupfuzzy_fp_mtime`), or,
for a fingerprint another plugin stored (chroma's `acoustid_fingerprint`),
the item's own `mtime`. Only the other files go through fpcalc.

Lossless files also get the lossless check (analysis/) in the same workers,
under the same rule: with a new fingerprint, or when none was stored yet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from beets import util
from beets.library import Library

from ..analysis import Analysis
from ..matching import blockindex, codec, similarity
from ..quality import is_lossless
from ..store.catalog import (
    BLOCKS,
    CUTOFF,
    FINGERPRINT,
    FP_MTIME,
    LOSSLESS,
    SOURCE,
    Row,
    store_flex,
)
from .work import Task, run_tasks

BATCH = 64
MTIME_SLACK = 1e-3


@dataclass
class RefreshReport:
    """What a refresh did, for the summary line."""

    computed: int = 0
    reused: int = 0
    analysed: int = 0
    sketched: int = 0
    failed: list[tuple[bytes, str]] = field(default_factory=list)
    quiet: list[bytes] = field(default_factory=list)


def file_mtime(path: bytes) -> float | None:
    try:
        return os.path.getmtime(util.syspath(path))
    except OSError:
        return None


def is_fresh(row: Row, mtime: float | None) -> bool:
    """Whether the stored fingerprint still describes the file.

    Our own fingerprints carry the file's mtime from when they were taken.
    For one another plugin stored (chroma), the item's `mtime` field says
    when beets last read the file; beets zeroes it when a tag field such as
    the fingerprint changes, and then a file untouched since it was added to
    the library is still the file that was fingerprinted.
    """
    if not row.fingerprint or mtime is None:
        return False
    if row.fp_mtime is not None:
        return abs(row.fp_mtime - mtime) < MTIME_SLACK
    if row.mtime:
        return abs(row.mtime - mtime) < MTIME_SLACK
    return bool(row.added) and mtime <= row.added


def frames_of_fingerprint(fingerprint: str) -> np.ndarray | None:
    try:
        return codec.decode(fingerprint)
    except codec.CodecError:
        return None


def sketch_of(frames: np.ndarray) -> blockindex.Sketch:
    return blockindex.sketch(frames, similarity.is_informative(frames))


def needs_analysis(row: Row) -> bool:
    return is_lossless(row.format)


def task_of(row: Row, fingerprint: bool) -> Task:
    return Task(
        row.path,
        fingerprint=fingerprint,
        analyse=needs_analysis(row) and (fingerprint or not row.lossless),
        length=row.length,
        samplerate=row.samplerate,
    )


def take_analysis(row: Row, analysis: Analysis) -> list[tuple[int, str, object]]:
    """Put a verdict on the row; return the fields to store."""
    row.lossless, row.cutoff, row.source = (
        analysis.verdict,
        analysis.cutoff,
        analysis.source_code,
    )
    return [(row.id, LOSSLESS, row.lossless), (row.id, CUTOFF, str(row.cutoff)),
            (row.id, SOURCE, row.source)]  # fmt: skip


def refresh(
    lib: Library,
    rows: Sequence[Row],
    workers: int,
    on_progress: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> tuple[list[Row], RefreshReport]:
    """Bring fingerprints and sketches up to date; return the usable rows.

    Rows whose file is missing or cannot be fingerprinted are reported and
    left out of the result; so are silent ones (kept, with an empty sketch,
    but they can match nothing).
    """
    report = RefreshReport()
    stale: list[tuple[Row, float | None]] = []
    usable: list[Row] = []
    writes: list[tuple[int, str, object]] = []
    for row in rows:
        mtime = file_mtime(row.path)
        if mtime is None:
            report.failed.append((row.path, "file not found"))
            continue
        if is_fresh(row, mtime):
            report.reused += 1
            row.sketch = blockindex.decode_sketch(row.blocks)
            if row.sketch is None:
                frames = frames_of_fingerprint(row.fingerprint)
                if frames is None:
                    stale.append((row, mtime))
                    continue
                row.sketch = sketch_of(frames)
                row.blocks = blockindex.encode_sketch(row.sketch)
                writes.append((row.id, BLOCKS, row.blocks))
                report.sketched += 1
            usable.append(row)
        else:
            stale.append((row, mtime))
    store_flex(lib, writes)

    tasks = [task_of(row, True) for row, _ in stale]
    tasks += [task_of(r, False) for r in usable if task_of(r, False).analyse]
    by_path = {row.path: (row, mtime) for row, mtime in stale}
    by_path.update({r.path: (r, None) for r in usable})
    if on_start is not None:
        on_start(len(tasks))
    writes = []
    for outcome in run_tasks(tasks, workers):
        if on_progress is not None:
            on_progress()
        row, mtime = by_path[outcome.task.path]
        analysis = outcome.analysis
        if analysis is not None and analysis.ok:
            writes += take_analysis(row, analysis)
            report.analysed += 1
        elif analysis is not None:  # not stored: tried again next time
            report.failed.append((row.path, f"lossless check: {analysis.error}"))
        result = outcome.fpcalc
        if result is None:
            continue
        frames = frames_of_fingerprint(result.fingerprint) if result.ok else None
        if frames is None:
            report.failed.append((row.path, result.error or "unreadable fingerprint"))
            continue
        report.computed += 1
        row.fingerprint = result.fingerprint
        row.fp_mtime = mtime
        row.sketch = sketch_of(frames)
        row.blocks = blockindex.encode_sketch(row.sketch)
        writes += [
            (row.id, FINGERPRINT, row.fingerprint),
            (row.id, FP_MTIME, repr(mtime)),
            (row.id, BLOCKS, row.blocks),
        ]
        usable.append(row)
        if len(writes) >= 3 * BATCH:
            store_flex(lib, writes)
            writes = []
    store_flex(lib, writes)
    report.quiet = [row.path for row in usable if row.sketch.empty]
    usable.sort(key=lambda r: r.id)
    return usable, report
