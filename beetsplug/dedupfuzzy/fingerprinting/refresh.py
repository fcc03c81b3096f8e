"""Keep every item's fingerprint and sketch current, decoding only what changed.

A stored fingerprint is reused while its file's audio is unchanged (see
`freshness`): a tag edit costs a `stat` and at most one audio identity per
file, never a decode. Only the other files go through fpcalc.

Lossless files also get the lossless check (analysis/) in the same workers,
under the same rule: with a new fingerprint, or when none was stored yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from beets.library import Library

from ..analysis.verdict import Analysis
from ..matching import blockindex, codec, similarity
from ..stages import Stages, quiet
from ..store.catalog import copy_fingerprints, delete_flex, store_flex
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
from .fpcalc import MISSING, SILENT, UNREADABLE, Skipped
from .freshness import (
    audio_identities,
    audio_identity,
    check,
    file_mtime,
    may_identify,
    unchanged,
)
from .work import Outcome, Task, needs_check, run_tasks

BATCH = 64
LOSSLESS_CHECK = "lossless check"


@dataclass
class RefreshReport:
    """What a refresh did, for the summary line."""

    computed: int = 0
    reused: int = 0
    analysed: int = 0
    sketched: int = 0
    failed: list[Skipped] = field(default_factory=list)
    quiet: list[bytes] = field(default_factory=list)
    # lossless files the lossless check could not read (they take part)
    unchecked: list[Skipped] = field(default_factory=list)

    @property
    def skipped(self) -> list[Skipped]:
        """Every file that cannot take part, with its reason."""
        return [*self.failed, *(Skipped(path, SILENT) for path in self.quiet)]


def frames_of_fingerprint(fingerprint: str) -> np.ndarray | None:
    try:
        return codec.decode(fingerprint)
    except codec.CodecError:
        return None


def sketch_of(frames: np.ndarray) -> blockindex.Sketch:
    return sketches_of([frames])[0]


def sketches_of(prints: Sequence[np.ndarray]) -> list[blockindex.Sketch]:
    """The sketches of fingerprints' frames (empty where uninformative)."""
    heads = [similarity.head(f) for f in prints]
    return blockindex.sketch_many(heads, similarity.informative_many(heads))


def task_of(row: Row, fingerprint: bool, check_lossless: bool = True) -> Task:
    """What a row needs: a fingerprint, the lossless check, or both."""
    return Task(
        row.path,
        fingerprint=fingerprint,
        analyse=needs_check(row.format, row.lossless, fingerprint, check_lossless),
        length=row.length,
        samplerate=row.samplerate,
    )


def analysis_fields(analysis: Analysis) -> dict[str, str]:
    """A verdict as the flexible attributes that store it."""
    return {
        LOSSLESS: analysis.verdict,
        CUTOFF: str(analysis.cutoff),
        SOURCE: analysis.source_code,
    }


def take_analysis(row: Row, analysis: Analysis) -> list[tuple[int, str, object]]:
    """Put a verdict on the row; return the fields to store."""
    row.lossless = analysis.verdict
    row.cutoff = analysis.cutoff
    row.likely_source = analysis.source_code
    return [(row.id, key, value) for key, value in analysis_fields(analysis).items()]


def refresh(
    lib: Library,
    rows: Sequence[Row],
    workers: int,
    check_lossless: bool = True,
    mtimes: Mapping[int, float | None] | None = None,
    stages: Stages = quiet,
    label: str = "fingerprinting",
) -> tuple[list[Row], RefreshReport]:
    """Bring fingerprints up to date; return the rows that have one.

    Rows whose file is missing or cannot be fingerprinted are reported and
    left out of the result. A fresh fingerprint is not read: only files
    that changed are fingerprinted again (and their sketch recomputed, and
    their matches forgotten: see `store.recordings`). A fingerprint another
    plugin stored is adopted: its file's mtime is recorded with it.
    `mtimes`: the files' mtimes, when the caller has just read them;
    `stages` hears of the reading of files whose fingerprints are adopted,
    and of the fingerprinting (named `label`).
    """
    report = RefreshReport()
    stale: list[tuple[Row, float | None]] = []
    usable: list[Row] = []
    writes: list[tuple[int, str, object]] = []
    adopted: list[int] = []
    times = [
        mtimes[row.id]
        if mtimes is not None and row.id in mtimes
        else file_mtime(row.path)
        for row in rows
    ]
    pending: list[tuple[Row, float]] = []
    for row, mtime in zip(rows, times, strict=True):
        if unchanged(row, mtime):  # most rows of a warm run: no call below
            report.reused += 1
            usable.append(row)
        elif mtime is None:
            report.failed.append(Skipped(row.path, MISSING))
        else:
            pending.append((row, mtime))
    # Fingerprints another plugin stored are adopted unless their files
    # changed: our copies of them are written while the workers read the
    # files (a copy of one that turns out stale is replaced when the file is
    # fingerprinted again, and holds what beets' column holds anyway).
    adoptable = [
        row.id for row, mtime in pending if row.fp_mtime is None and mtime is not None
    ]
    reading = [row.path for row, mtime in pending if may_identify(row, mtime)]
    with stages("reading files", len(reading)) as step:
        known = audio_identities(
            reading,
            workers,
            meanwhile=lambda: copy_fingerprints(lib, adoptable),
            step=step,
        )

    def identity(path: bytes) -> str:
        return known[path] if path in known else audio_identity(path)

    for row, mtime in pending:
        fresh = check(row, mtime, identity)
        if fresh.record:
            # Adopted (chroma's), or the audio identity confirmed it: note
            # what makes the next check one `stat`, and keep our copy.
            writes += [
                (row.id, FP_MTIME, repr(row.fp_mtime)),
                (row.id, AUDIO_ID, row.audio_id),
            ]
            adopted.append(row.id)
        if fresh.fresh:
            report.reused += 1
            usable.append(row)
        else:
            stale.append((row, mtime))
    store_flex(lib, writes, current=True)
    copied = set(adoptable)
    copy_fingerprints(lib, [i for i in adopted if i not in copied])

    tasks = [task_of(row, True, check_lossless) for row, _ in stale]
    by_path = {row.path: (row, mtime) for row, mtime in stale}
    # fresh files need only a check not done yet (a warm run: none)
    for row in usable:
        if needs_check(row.format, row.lossless, False, check_lossless):
            tasks.append(task_of(row, False, check_lossless))
            by_path[row.path] = (row, None)
    writes = []
    changed: list[int] = []
    with stages(label, len(tasks)) as step:
        for outcome in run_tasks(tasks, workers):
            step(1)
            row, mtime = by_path[outcome.task.path]
            taken, fingerprinted = _take_outcome(outcome, row, mtime, report)
            writes += taken
            if fingerprinted:
                changed.append(row.id)
                usable.append(row)
            if len(writes) >= 5 * BATCH:
                store_flex(lib, writes, current=True)
                writes = []
    store_flex(lib, writes, current=True)
    delete_flex(lib, changed, MATCHED, current=True)
    report.quiet = [
        row.path for row in usable if row.sketch is not None and row.sketch.empty
    ]
    usable.sort(key=lambda r: r.id)
    return usable, report


def _take_outcome(
    outcome: Outcome, row: Row, mtime: float | None, report: RefreshReport
) -> tuple[list[tuple[int, str, object]], bool]:
    """Put a task's outcome on its row: the fields to store, and whether the
    row got a new fingerprint (failures go to the report)."""
    writes: list[tuple[int, str, object]] = []
    analysis = outcome.analysis
    if analysis is not None and analysis.ok:
        writes += take_analysis(row, analysis)
        report.analysed += 1
    elif analysis is not None:  # not stored: tried again next time
        report.unchecked.append(Skipped(row.path, LOSSLESS_CHECK, analysis.error))
    result = outcome.fpcalc
    if result is None:
        return writes, False
    frames = frames_of_fingerprint(result.fingerprint) if result.ok else None
    if frames is None:
        report.failed.append(
            result.skipped
            if not result.ok
            else Skipped(row.path, UNREADABLE, "fpcalc's fingerprint is unreadable")
        )
        return writes, False
    report.computed += 1
    row.fingerprint = result.fingerprint
    row.has_fingerprint = True
    row.fp_mtime = mtime
    row.audio_id = audio_identity(row.path)
    row.sketch = sketch_of(frames)
    row.blocks = blockindex.encode_sketch(row.sketch)
    row.matched = ""
    writes += [
        (row.id, FINGERPRINT, row.fingerprint),
        (row.id, FP_MTIME, repr(mtime)),
        (row.id, BLOCKS, row.blocks),
        (row.id, AUDIO_ID, row.audio_id),
        (row.id, FP_COPY, row.fingerprint),
    ]
    return writes, True
