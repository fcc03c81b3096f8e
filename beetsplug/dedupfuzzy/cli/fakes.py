"""`beet dedupfuzzy --fakes`: every lossless item made from a lossy file.

Duplicates or not: a fake FLAC is worth replacing even when it is the only
copy. The lossless items of the query are brought up to date first (the
same refresh as a listing: fingerprint and lossless check, once per file).
"""

from __future__ import annotations

import json
import sys

from beets import util
from beets.library import Library
from beets.ui import print_

from ..analysis import VERDICTS
from ..analysis.labels import FAKE, describe_source
from ..fingerprinting import refresh as fingerprints
from ..fingerprinting.fpcalc import Skipped
from ..quality import is_lossless
from ..settings import Settings
from ..store import catalog
from ..store.fields import Row
from .progress import drawn


def khz(hz: int) -> str:
    return f"{hz / 1000:.1f} kHz" if hz else "?"


def verdict_note(row: Row) -> str:
    """`fake, cutoff 16.7 kHz, lossy ~128 kbps` for a lossless copy; else ""."""
    if not (is_lossless(row.format) and row.lossless):
        return ""
    parts = [row.lossless]
    if row.cutoff:
        parts.append(f"cutoff {khz(row.cutoff)}")
    source = describe_source(row.likely_source)
    if source:
        parts.append(source)
    return ", ".join(parts)


def unchecked_line(entry: Skipped) -> str:
    """A lossless file the check could not read: it still takes part."""
    return f"not checked ({entry}): {util.displayable_path(entry.path)}"


def verdict_record(row: Row) -> dict[str, object]:
    """The JSON fields of the lossless check (null for lossy copies)."""
    analysed = is_lossless(row.format) and bool(row.lossless)
    return {
        "lossless": row.lossless if analysed else None,
        "cutoff": row.cutoff if analysed and row.cutoff else None,
        "source": describe_source(row.likely_source) if analysed else None,
    }


def run_fakes(
    lib: Library, query: list[str], settings: Settings, *, json_out: bool
) -> None:
    ids = [item.id for item in lib.items(query)] if query else None
    rows = [r for r in catalog.load_rows(lib, ids) if is_lossless(r.format)]
    usable, report = fingerprints.refresh(
        lib, rows, settings.workers, stages=drawn, label="checking"
    )

    def say(text: str) -> None:
        # messages go to stderr when stdout carries JSON
        if json_out:
            print(text, file=sys.stderr)
        else:
            print_(text)

    for entry in [*report.failed, *report.unchecked]:
        say(f"{util.displayable_path(entry.path)}: {entry}")
    fakes = [r for r in usable if r.lossless == FAKE]
    counts = {v: sum(1 for r in usable if r.lossless == v) for v in VERDICTS}
    failed = len(report.failed) + len(report.unchecked)
    summary = {"lossless_items": len(rows), **counts, "failed": failed}
    if json_out:
        records = [
            {
                "id": r.id,
                "path": util.displayable_path(r.path),
                "format": r.format,
                "bitdepth": r.bitdepth,
                "samplerate": r.samplerate,
                **verdict_record(r),
            }
            for r in fakes
        ]
        print(json.dumps({"fakes": records, "summary": summary}, indent=2))
    else:
        for r in fakes:
            item = lib.get_item(r.id) if settings.format else None
            if item is not None:
                print_(format(item, settings.format))
            else:
                print_(f"{verdict_note(r)}  {util.displayable_path(r.path)}")
    say(
        f"{len(rows)} lossless items: {counts['genuine']} genuine, "
        f"{counts['fake']} fake, {counts['unknown']} unknown"
    )
