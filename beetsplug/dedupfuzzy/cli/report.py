"""How groups are shown: the listing, `--count`, `--json` and the CSV report.

Line-oriented output shows every path through `display.shown`, so a name
with a newline or a tab is still one line, escaped as in the JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence

from beets import util
from beets.util.units import human_seconds_short

from ..display import one_line, shown
from ..fingerprinting.fpcalc import Skipped
from ..matching.groups import Member, ResolvedGroup
from ..quality import is_lossless
from .fakes import verdict_note, verdict_record

CSV_COLUMNS = (
    "group",
    "status",
    "keep",
    "id",
    "path",
    "format",
    "bitrate",
    "bitdepth",
    "samplerate",
    "length",
    "similarity",
    "offset",
    "lossless",
    "cutoff",
    "source",
)


def _kbps(bitrate: int) -> str:
    return f"{round(bitrate / 1000)}kbps" if bitrate else "?kbps"


def describe(member: Member, is_keeper: bool) -> str:
    """One line of technical detail about a copy (no path)."""
    r = member.row
    detail = (
        f"{r.format or '?':<7} {_kbps(r.bitrate):>9} {human_seconds_short(r.length):>6}"
    )
    if r.bitdepth and is_lossless(r.format):
        detail += f" {r.bitdepth}bit/{r.samplerate / 1000:g}kHz"
    if verdict_note(r):
        detail += f" ({verdict_note(r)})"
    if not is_keeper:
        detail += f"  similarity {member.similarity:.2f}  offset {member.offset:+.2f}s"
    return detail


def listing_lines(
    groups: Sequence[ResolvedGroup],
    formatted: Callable[[Member], str] | None = None,
) -> list[str]:
    """The default output: each group, keeper first, then the other copies."""
    lines: list[str] = []
    for n, g in enumerate(groups, 1):
        label = "duplicates" if g.status == "duplicate" else "uncertain (not acted on)"
        lines.append(f"group {n}: {label}")
        for k, m in enumerate(g.members):
            tag = "keep" if m.keep else "drop"
            if g.status != "duplicate":
                tag = "?"
            text = (
                one_line(formatted(m))
                if formatted
                else f"{describe(m, k == 0)}  {shown(m.row.path)}"
            )
            lines.append(f"  {tag:<4} {text}")
    return lines


def count_lines(
    groups: Sequence[ResolvedGroup], formatted: Callable[[Member], str] | None = None
) -> list[str]:
    """`--count`: the keeper of each group and how many copies it has."""
    lines = []
    for g in groups:
        keeper = g.keeper
        name = one_line(formatted(keeper)) if formatted else shown(keeper.row.path)
        lines.append(f"{name}: {len(g.members)}")
    return lines


def skipped_line(skipped: Skipped) -> str:
    """One file that cannot take part: `skipped (reason): path`."""
    return f"skipped ({one_line(str(skipped))}): {shown(skipped.path)}"


def _skipped_record(skipped: Skipped) -> dict[str, object]:
    return {
        "path": util.displayable_path(skipped.path),
        "reason": skipped.reason,
        "detail": skipped.detail,
    }


def _member_record(m: Member) -> dict[str, object]:
    return {
        "id": m.row.id,
        "path": util.displayable_path(m.row.path),
        "keep": m.keep,
        "similarity": m.similarity,
        "offset": m.offset,
        "format": m.row.format,
        "bitrate": m.row.bitrate,
        "length": round(m.row.length, 3),
        **verdict_record(m.row),
    }


def to_json(
    groups: Sequence[ResolvedGroup],
    summary: dict[str, object],
    skipped: Sequence[Skipped] = (),
) -> str:
    doc = {
        "groups": [
            {"status": g.status, "items": [_member_record(m) for m in g.members]}
            for g in groups
        ],
        "skipped": [_skipped_record(s) for s in skipped],
        "summary": summary,
    }
    return json.dumps(doc, indent=2)


def write_csv(path: str, groups: Sequence[ResolvedGroup]) -> None:
    """The music-manager script's CSV export: one row per item in a group."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for n, g in enumerate(groups, 1):
            for m in g.members:
                r = m.row
                writer.writerow(
                    (
                        n,
                        g.status,
                        "yes" if m.keep else "no",
                        r.id,
                        util.displayable_path(r.path),
                        r.format,
                        r.bitrate,
                        r.bitdepth,
                        r.samplerate,
                        f"{r.length:.3f}",
                        f"{m.similarity:.4f}",
                        f"{m.offset:.2f}",
                        *("" if v is None else v for v in verdict_record(r).values()),
                    )
                )
