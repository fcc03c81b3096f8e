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
from typing import Any, Protocol

from .analysis.verdict import FAKE, parse_source

LOSSLESS_FORMATS = frozenset(
    {"flac", "alac", "wav", "aiff", "ape", "wavpack", "tta", "wma lossless", "dsf"}
)


class HasQuality(Protocol):
    format: str
    bitrate: int
    bitdepth: int
    samplerate: int


def is_lossless(fmt: str) -> bool:
    return (fmt or "").strip().lower() in LOSSLESS_FORMATS


def is_fake(track: Any) -> bool:
    """A lossless copy the lossless check found made from a lossy file."""
    return is_lossless(track.format) and getattr(track, "lossless", "") == FAKE


def counts_as_lossless(track: Any) -> bool:
    return is_lossless(track.format) and not is_fake(track)


def quality_key(track: HasQuality) -> tuple[int, ...]:
    """A sort key: the larger, the better the copy."""
    bitrate = int(track.bitrate or 0)
    samplerate = int(track.samplerate or 0)
    kbps, original_rate = parse_source(getattr(track, "source", ""))
    if is_fake(track):
        return (0, kbps * 1000, 1, 0)
    if is_lossless(track.format):
        bitdepth = int(track.bitdepth or 0)
        if original_rate:
            bitdepth, samplerate = min(bitdepth, 16), min(samplerate, original_rate)
        return (1, bitdepth, samplerate, 0)
    return (0, bitrate, 0, samplerate)


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
    lossless and the best lossy copy, for people who keep both (a fake
    lossless copy is a lossy one).
    """
    if not ranked:
        return set()
    if policy == "best-of-each":
        kept = set()
        for lossless in (True, False):
            for t in ranked:
                if counts_as_lossless(t) == lossless:
                    kept.add(t.id)
                    break
        return kept
    return {ranked[0].id}
