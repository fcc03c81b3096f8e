"""Which copy of a recording is worth keeping.

Lossless beats lossy; among lossless copies more bits per sample, then a
higher sample rate win (a FLAC's bitrate only says how well it compressed, so
it decides nothing: a remaster that compresses worse is not a better copy);
among lossy copies the bitrate decides before the sample rate, because a
lossy codec's output rate says nothing about its quality (Opus always decodes
at 48 kHz). Ties are broken by the configured `tiebreak` fields, then the copy
that came into the library first stays, so the choice is stable from one run
to the next.

The lossless check (analysis/) refines this. A fake lossless copy, made from
a lossy file, counts as lossy at its estimated source bitrate: a genuine
lossless copy always beats it, a 320 kbps MP3 beats a FLAC made from a
128 kbps one, and at equal bitrate the lossless container still wins (one
generation closer to the source). An upsampled copy counts at its original
sample rate and 16 bits: upsampling adds nothing. Copies not analysed, or
judged `unknown`, keep the benefit of the doubt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from .analysis.labels import FAKE, parse_source

if TYPE_CHECKING:
    from beets.library import Library

LOSSLESS_FORMATS = frozenset(
    {"flac", "alac", "wav", "aiff", "ape", "wavpack", "tta", "wma lossless", "dsf"}
)


class HasQuality(Protocol):
    format: str
    bitrate: int
    bitdepth: int
    samplerate: int


@lru_cache(maxsize=256)
def is_lossless(fmt: str) -> bool:
    return (fmt or "").strip().lower() in LOSSLESS_FORMATS


def quality_key(track: HasQuality) -> tuple[int, ...]:
    """A sort key: the larger, the better the copy."""
    return _grade(
        track.format,
        track.bitrate,
        track.bitdepth,
        track.samplerate,
        getattr(track, "lossless", ""),
        getattr(track, "likely_source", ""),
    )


# A library holds few distinct grades, and the mirror ranks 100,000 copies.
@lru_cache(maxsize=4096)
def _grade(
    fmt: str, bitrate: int, bitdepth: int, samplerate: int, verdict: str, source: str
) -> tuple[int, ...]:
    bitrate = int(bitrate or 0)
    samplerate = int(samplerate or 0)
    kbps, original_rate = parse_source(source)
    if not is_lossless(fmt):
        return (0, bitrate, 0, samplerate)
    if verdict == FAKE:
        return (0, kbps * 1000, 1, 0)
    bitdepth = int(bitdepth or 0)
    if original_rate:
        bitdepth, samplerate = min(bitdepth, 16), min(samplerate, original_rate)
    return (1, bitdepth, samplerate, 0)


def rank(
    tracks: Sequence[Any],
    tiebreak: Callable[[Any], tuple] | None = None,
) -> list[Any]:
    """Tracks ordered best first."""

    def key(t: Any) -> tuple:
        extra = tiebreak(t) if tiebreak else ()
        return (quality_key(t), extra)

    # Oldest first (ascending id) so equal copies keep a stable order (a
    # sort with `reverse` keeps equals in their order too).
    ordered = list(tracks)
    if any(a.id >= b.id for a, b in zip(ordered, ordered[1:], strict=False)):
        ordered.sort(key=lambda t: (t.id, t.path))
    return sorted(ordered, key=key, reverse=True)


def tiebreaker(lib: Library, fields: list[str]) -> Callable[[Any], tuple] | None:
    """A sort key over configured item fields (beets duplicates' `tiebreak`),
    for copies that have an ``id``.
    """
    if not fields:
        return None

    def key(copy: Any) -> tuple:
        item = lib.get_item(copy.id)
        values = []
        for f in fields:
            v = item.get(f) if item is not None else None
            values.append((v is not None, v if v is not None else 0))
        return tuple(values)

    return key


def keepers(ranked: Sequence[Any], policy: str) -> set[int]:
    """Ids of the copies that stay, from tracks ranked best first.

    `best` keeps one copy per recording; `best-of-each` keeps the best
    copy (the best lossless one, when there is a genuine one) and the best
    lossy one, for people who keep both: the copies the views show.
    """
    if not ranked:
        return set()
    if policy == "best-of-each":
        return {ranked[0].id, shown_copy(ranked, "low").id}
    return {ranked[0].id}


def shown_copy(ranked: Sequence[Any], view: str) -> Any:
    """The copy a mirror view shows, from copies ranked best first.

    "high" shows the best copy; "low" the best lossy copy, else the best
    one. `best-of-each` keeps exactly these two, so the views survive it.
    """
    if view == "low":
        return next((t for t in ranked if not is_lossless(t.format)), ranked[0])
    return ranked[0]
