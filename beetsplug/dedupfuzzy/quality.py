"""Which copy of a recording is worth keeping.

Lossless beats lossy; among lossless copies more bits per sample, then a
higher sample rate win (a FLAC's bitrate only says how well it compressed, so
it decides nothing: a remaster that compresses worse is not a better copy);
among lossy copies the bitrate decides before the sample rate, because a
lossy codec's output rate says nothing about its quality (Opus always decodes
at 48 kHz). Ties are broken by the configured `tiebreak` fields, then the copy
that came into the library first stays, so the choice is stable from one run
to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

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
    return _grade(track.format, track.bitrate, track.bitdepth, track.samplerate)


# A library holds few distinct grades, and the mirror ranks 100,000 copies.
@lru_cache(maxsize=4096)
def _grade(fmt: str, bitrate: int, bitdepth: int, samplerate: int) -> tuple[int, ...]:
    bitrate = int(bitrate or 0)
    samplerate = int(samplerate or 0)
    if is_lossless(fmt):
        return (1, int(bitdepth or 0), samplerate, 0)
    return (0, 0, bitrate, samplerate)


def rank(
    tracks: Sequence[Any],
    tiebreak: Callable[[Any], tuple] | None = None,
) -> list[Any]:
    """Tracks ordered best first."""

    def key(t: Any) -> tuple:
        extra = tiebreak(t) if tiebreak else ()
        return (quality_key(t), extra)

    # Oldest first (ascending id) so equal copies keep a stable order.
    ordered = sorted(tracks, key=lambda t: (t.id, t.path))
    return sorted(ordered, key=key, reverse=True)


def keepers(ranked: Sequence[Any], policy: str) -> set[int]:
    """Ids of the copies that stay, from tracks ranked best first.

    `best` keeps one copy per recording; `best-of-each` keeps the best
    lossless and the best lossy copy, for people who keep both.
    """
    if not ranked:
        return set()
    if policy == "best-of-each":
        best_lossless = next((t for t in ranked if is_lossless(t.format)), None)
        kept = {shown_copy(ranked, "low").id}
        return kept | ({best_lossless.id} if best_lossless is not None else set())
    return {ranked[0].id}


def shown_copy(ranked: Sequence[Any], view: str) -> Any:
    """The copy a mirror view shows, from copies ranked best first.

    "high" shows the best copy; "low" the best lossy copy, else the best
    one. `best-of-each` keeps exactly these two, so the views survive it.
    """
    if view == "low":
        return next((t for t in ranked if not is_lossless(t.format)), ranked[0])
    return ranked[0]
