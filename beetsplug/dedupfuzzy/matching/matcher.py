"""The one verifier: candidate pairs checked on their raw frames.

Everything here works on plain data: tracks with a length, a sketch and a
way to get their frames. The guards that keep different edits apart live
here: lengths must agree (fpcalc reads only the first two minutes, where a
radio edit equals the album version), the overlap must be long enough, and
silent fingerprints have empty sketches so they are never candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..settings import MatchSettings
from .blockindex import EMPTY, Sketch
from .candidates import CandidateIndex
from .similarity import MIN_FRAMES, Alignment, align, seconds_to_frames


@dataclass
class Track:
    """What matching needs to know about one library item."""

    id: int
    path: bytes
    length: float
    format: str = ""
    bitrate: int = 0
    bitdepth: int = 0
    samplerate: int = 0
    sketch: Sketch | None = None


@dataclass(frozen=True)
class Match:
    """Two tracks that sound alike: b's similarity and offset relative to a."""

    a: int
    b: int
    similarity: float
    offset: float

    def other(self, track_id: int) -> int:
        return self.b if track_id == self.a else self.a


FramesOf = Callable[[int], np.ndarray | None]


class Verifier:
    """Checks pairs of tracks on their frames, remembering every answer."""

    def __init__(
        self,
        tracks: dict[int, Track],
        frames_of: FramesOf,
        settings: MatchSettings,
        known: dict[frozenset[int], Match | None] | None = None,
        distinct: Callable[[int, int], bool] = lambda a, b: False,
    ) -> None:
        self.tracks = tracks
        self.frames_of = frames_of
        self.settings = settings
        self.max_shift = seconds_to_frames(settings.max_offset)
        self.min_overlap = seconds_to_frames(settings.min_overlap)
        # Pairs a human said are different recordings ("keep both").
        self.distinct = distinct
        # Answers remembered from earlier runs, and those computed in this one.
        self._cache: dict[frozenset[int], Match | None] = dict(known or {})
        self.computed: dict[frozenset[int], Match | None] = {}

    def lengths_agree(self, a: Track, b: Track) -> bool:
        if not a.length or not b.length:
            return True
        return abs(a.length - b.length) <= self.settings.length_tolerance

    def verify(self, a_id: int, b_id: int, hints: Sequence[int] = ()) -> Match | None:
        """The match between two tracks, or None when they are not alike."""
        key = frozenset((a_id, b_id))
        if key in self._cache:
            return self._cache[key]
        if self.distinct(a_id, b_id):
            return None
        result = self._verify(a_id, b_id, hints)
        self._cache[key] = result
        self.computed[key] = result
        return result

    def forget(self, item_id: int) -> None:
        """Drop the answers about an item (its id now names another file)."""
        for key in [k for k in self._cache if item_id in k]:
            del self._cache[key]
            self.computed.pop(key, None)

    def forget_pair(self, a_id: int, b_id: int) -> None:
        key = frozenset((a_id, b_id))
        self._cache.pop(key, None)
        self.computed.pop(key, None)

    def _verify(self, a_id: int, b_id: int, hints: Sequence[int]) -> Match | None:
        a, b = self.tracks[a_id], self.tracks[b_id]
        if not self.lengths_agree(a, b):
            return None
        if a.sketch is not None and a.sketch.empty:
            return None
        if b.sketch is not None and b.sketch.empty:
            return None
        fa, fb = self.frames_of(a_id), self.frames_of(b_id)
        if fa is None or fb is None:
            return None
        # Short tracks cannot offer the configured overlap; demand most of
        # what they have, and never less than a few seconds.
        need = max(MIN_FRAMES, min(self.min_overlap, int(0.8 * min(len(fa), len(fb)))))
        found: Alignment | None = align(
            fa, fb, max_shift=self.max_shift, min_overlap=need, hints=hints
        )
        if found is None and hints:
            found = align(fa, fb, max_shift=self.max_shift, min_overlap=need)
        if found is None or found.similarity < self.settings.ask_threshold:
            return None
        return Match(
            a_id, b_id, round(found.similarity, 4), round(found.offset, 2) + 0.0
        )


def find_matches(tracks: Sequence[Track], verifier: Verifier) -> list[Match]:
    """Every match among the tracks: batch candidates, verified on their frames."""
    index = CandidateIndex(
        [t.id for t in tracks],
        [t.length for t in tracks],
        [t.sketch if t.sketch is not None else EMPTY for t in tracks],
        verifier.settings.length_tolerance,
    )
    candidates = index.pairs()
    return verify_pairs(candidates.pairs, candidates.hints, verifier)


def verify_pairs(
    pairs: Sequence[tuple[int, int]],
    hints: dict[tuple[int, int], list[int]],
    verifier: Verifier,
) -> list[Match]:
    """The pairs that verify, each as a match."""
    matches = []
    for a, b in pairs:
        if not verifier.lengths_agree(verifier.tracks[a], verifier.tracks[b]):
            continue
        m = verifier.verify(a, b, hints.get((a, b), ()))
        if m is not None:
            matches.append(m)
    return matches
