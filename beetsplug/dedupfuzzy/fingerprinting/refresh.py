"""Keep every item's fingerprint and sketch current, decoding only what changed.

A stored fingerprint is reused while its file is unchanged: its mtime equals
the one recorded when the fingerprint was taken (`dedupfuzzy_fp_mtime`), or,
for a fingerprint another plugin stored (chroma's `acoustid_fingerprint`),
the item's own `mtime`. Only the other files go through fpcalc.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from beets import util
from beets.library import Library

from ..matching import blockindex, codec, similarity
from ..store.catalog import (
    BLOCKS,
    FINGERPRINT,
    FP_MTIME,
    MATCHED,
    Row,
    delete_flex,
    store_flex,
)
from .fpcalc import FpcalcResult, fingerprint_files

BATCH = 64
MTIME_SLACK = 1e-3


@dataclass
class RefreshReport:
    """What a refresh did, for the summary line."""

    computed: int = 0
    reused: int = 0
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
    if not (row.fingerprint or row.has_fingerprint) or mtime is None:
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


def refresh(
    lib: Library,
    rows: Sequence[Row],
    workers: int,
    on_progress: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> tuple[list[Row], RefreshReport]:
    """Bring fingerprints up to date; return the rows that have one.

    Rows whose file is missing or cannot be fingerprinted are reported and
    left out of the result. A fresh fingerprint is not read: only files
    that changed are fingerprinted again (and their sketch recomputed, and
    their matches forgotten: see `store.recordings`). A fingerprint another
    plugin stored is adopted: its file's mtime is recorded with it.
    """
    report = RefreshReport()
    stale: list[tuple[Row, float | None]] = []
    usable: list[Row] = []
    writes: list[tuple[int, str, object]] = []
    for row in rows:
        mtime = file_mtime(row.path)
        if mtime is None:
            report.failed.append((row.path, "file not found"))
        elif is_fresh(row, mtime):
            report.reused += 1
            if row.fp_mtime is None:
                row.fp_mtime = mtime
                writes.append((row.id, FP_MTIME, repr(mtime)))
            usable.append(row)
        else:
            stale.append((row, mtime))
    store_flex(lib, writes)

    by_path = {row.path: (row, mtime) for row, mtime in stale}
    if on_start is not None:
        on_start(len(stale))
    writes = []
    changed: list[int] = []
    result: FpcalcResult
    for result in fingerprint_files([r.path for r, _ in stale], workers):
        if on_progress is not None:
            on_progress()
        row, mtime = by_path[result.path]
        frames = frames_of_fingerprint(result.fingerprint) if result.ok else None
        if frames is None:
            report.failed.append((row.path, result.error or "unreadable fingerprint"))
            continue
        report.computed += 1
        row.fingerprint = result.fingerprint
        row.has_fingerprint = True
        row.fp_mtime = mtime
        row.sketch = sketch_of(frames)
        row.blocks = blockindex.encode_sketch(row.sketch)
        row.matched = ""
        changed.append(row.id)
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
    delete_flex(lib, changed, MATCHED)
    report.quiet = [
        row.path for row in usable if row.sketch is not None and row.sketch.empty
    ]
    usable.sort(key=lambda r: r.id)
    return usable, report
