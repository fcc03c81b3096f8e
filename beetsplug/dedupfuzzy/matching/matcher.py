"""The one verifier: candidate pairs checked on their raw frames.

Everything here works on plain data: tracks with a length, a sketch and a
way to get their frames (and, for the few pairs that need it, audio fpcalc
did not read, through an `endings.AudioSource`). The guards that keep
different edits apart live here: the stretch both copies hold must have the
same length once aligned (fpcalc reads only the first two minutes, where a
radio edit equals the album version; a lead-in of room noise is no other
edit), the ends must agree (`endings`), the overlap must be long enough, and
silent fingerprints have empty sketches so they are never candidates.
Off-speed copies are found by a drifting alignment and judged on audio
played back at the corrected speed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..settings import MatchSettings
from . import endings
from .blockindex import EMPTY, Sketch
from .candidates import CandidateIndex
from .sharedkeys import with_hints
from .similarity import (
    MAX_SPEED_ERROR,
    MIN_FRAMES,
    Alignment,
    align_drifting,
    align_many,
    fit_drift_many,
    head,
    may_line_up,
    seconds_to_frames,
)


@dataclass(slots=True)
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


@dataclass(frozen=True, slots=True)
class Match:
    """Two tracks that sound alike: b's similarity and offset relative to a."""

    a: int
    b: int
    similarity: float
    offset: float
    speed: float = 1.0  # b's length per second of a (1.008: b runs 0.8 % slow)

    def other(self, track_id: int) -> int:
        return self.b if track_id == self.a else self.a


FramesOf = Callable[[int], np.ndarray | None]


class Verifier:
    """Checks pairs of tracks on their frames, remembering every answer.

    With an `audio` source, pairs whose verdict needs audio fpcalc did not
    read (the end of a long track, an off-speed copy played back at the
    corrected speed) get it decoded; without one, those checks are skipped
    where the fingerprints cannot answer and off-speed copies match nothing.
    """

    def __init__(
        self,
        tracks: dict[int, Track],
        frames_of: FramesOf,
        settings: MatchSettings,
        known: dict[frozenset[int], Match | None] | None = None,
        distinct: Callable[[int, int], bool] = lambda a, b: False,
        audio: endings.AudioSource | None = None,
    ) -> None:
        self.tracks = tracks
        self.frames_of = frames_of
        self.settings = settings
        self.audio = audio
        self.max_shift = seconds_to_frames(settings.max_offset)
        self.min_overlap = seconds_to_frames(settings.min_overlap)
        # Pairs a human said are different recordings ("keep both").
        self.distinct = distinct
        # Answers remembered from earlier runs, and those computed in this one.
        self._cache: dict[frozenset[int], Match | None] = dict(known or {})
        self.computed: dict[frozenset[int], Match | None] = {}
        self._heads: dict[tuple[int, int], Alignment | None] = {}
        self.endings = endings.EndingCheck(frames_of, audio, settings.length_tolerance)

    def lengths_agree(self, a: Track, b: Track) -> bool:
        """A quick test before any frame is read: can these lengths match?

        The difference may hide a lead-in of up to `max_offset` and a speed
        error; the stretch both copies hold is compared once aligned.
        """
        if not a.length or not b.length:
            return True
        slack = (
            self.settings.length_tolerance
            + self.settings.max_offset
            + MAX_SPEED_ERROR * max(a.length, b.length)
        )
        return abs(a.length - b.length) <= slack

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
        self._heads.pop((a_id, b_id), None)
        self.endings.forget(self.tracks[a_id], self.tracks[b_id])
        return result

    def verify_many(
        self, pairs: Sequence[tuple[int, int, Sequence[int]]]
    ) -> list[Match | None]:
        """`verify` for many pairs, decoding the audio they need in one go."""
        if self.audio is not None:
            pending = [
                (a, b, hints)
                for a, b, hints in pairs
                if frozenset((a, b)) not in self._cache and not self.distinct(a, b)
            ]
            aligned = [
                (self.tracks[a_id], self.tracks[b_id], found)
                for (a_id, b_id, _), found in zip(
                    pending, self.align_heads(pending), strict=True
                )
                if not self.head_decides(found)
            ]
            self.endings.choose_playback(aligned)
            self.endings.prepare(aligned)
            self.audio.prefetch(
                need
                for a, b, found in aligned
                for need in self.endings.needed(a, b, found)
            )
        return [self.verify(a, b, hints) for a, b, hints in pairs]

    def forget(self, item_id: int) -> None:
        """Drop the answers about an item (its id now names another file)."""
        for key in [k for k in self._cache if item_id in k]:
            del self._cache[key]
            self.computed.pop(key, None)
        for pair in [p for p in self._heads if item_id in p]:
            del self._heads[pair]

    def forget_pair(self, a_id: int, b_id: int) -> None:
        key = frozenset((a_id, b_id))
        self._cache.pop(key, None)
        self.computed.pop(key, None)
        self._heads.pop((a_id, b_id), None)
        self._heads.pop((b_id, a_id), None)

    def needs_head(self, a_id: int, b_id: int) -> bool:
        """Whether `verify` would align this pair (no answer or alignment yet)."""
        return (
            frozenset((a_id, b_id)) not in self._cache
            and (a_id, b_id) not in self._heads
            and not self.distinct(a_id, b_id)
            and self.lengths_agree(self.tracks[a_id], self.tracks[b_id])
        )

    def put_head(self, a_id: int, b_id: int, found: Alignment | None) -> None:
        """An alignment computed by a worker, used by `verify`."""
        self._heads[(a_id, b_id)] = found

    def turned_down(self, a_id: int, b_id: int) -> bool:
        """Whether the pair is known not to match (`verify` gives None)."""
        key = frozenset((a_id, b_id))
        return key in self._cache and self._cache[key] is None

    def turn_down(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Record pairs whose alignment alone turned them down (`head_decides`),
        as `verify` would: a worker aligned them, and nothing else is read."""
        verdicts = dict.fromkeys(frozenset(pair) for pair in pairs)
        self._cache.update(verdicts)
        self.computed.update(verdicts)

    def head_decides(self, found: Alignment | None) -> bool:
        """Whether the alignment alone turns the pair down (no frames needed
        for the rest of its verdict)."""
        return found is None or (
            found.speed == 1.0 and found.similarity < self.settings.ask_threshold
        )

    def clear_heads(self) -> None:
        self._heads.clear()

    def _head(self, a_id: int, b_id: int, hints: Sequence[int]) -> Alignment | None:
        """The best alignment of the two stored fingerprints (memoised)."""
        if (a_id, b_id) in self._heads:  # most calls: aligned by a worker
            return self._heads[(a_id, b_id)]
        return self.align_heads([(a_id, b_id, hints)])[0]

    def align_heads(
        self, pairs: Sequence[tuple[int, int, Sequence[int]]]
    ) -> list[Alignment | None]:
        """The head alignments of many pairs, computed together (memoised).

        A straight shift first; when that is not convincing, a drifting one
        (an off-speed copy), as long as there is audio to confirm it with.
        """
        todo: dict[tuple[int, int], tuple[Sequence[int], np.ndarray, np.ndarray]] = {}
        for a_id, b_id, hints in pairs:
            if (a_id, b_id) in self._heads or (a_id, b_id) in todo:
                continue
            heads = self._heads_of(a_id, b_id)
            if heads is None:
                self._heads[(a_id, b_id)] = None
            else:
                todo[(a_id, b_id)] = (hints, *heads)
        if todo:
            found = self._align_all(list(todo.values()))
            self._heads.update(zip(todo, found, strict=True))
        return [self._heads[(a_id, b_id)] for a_id, b_id, _ in pairs]

    def _heads_of(self, a_id: int, b_id: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The two heads to align, or None when the pair cannot match."""
        a, b = self.tracks[a_id], self.tracks[b_id]
        if not self.lengths_agree(a, b) or (
            (a.sketch is not None and a.sketch.empty)
            or (b.sketch is not None and b.sketch.empty)
        ):
            return None
        fa, fb = self.frames_of(a_id), self.frames_of(b_id)
        if fa is None or fb is None:
            return None
        return head(fa), head(fb)

    def _align_all(
        self, todo: list[tuple[Sequence[int], np.ndarray, np.ndarray]]
    ) -> list[Alignment | None]:
        # A pair without shift hints is first screened: most are two
        # different songs a profile search proposed, which the screen turns
        # down for less than the straight shift search costs.
        unhinted = [k for k, (hints, _, _) in enumerate(todo) if not hints]
        screen = may_line_up([todo[k][1:] for k in unhinted], self.max_shift)
        out = {k for k, ok in zip(unhinted, screen, strict=True) if not ok}
        rest = [k for k in range(len(todo)) if k not in out]
        found: list[Alignment | None] = [None] * len(todo)
        for k, alignment in zip(
            rest, self._align_straight([todo[k] for k in rest]), strict=True
        ):
            found[k] = alignment
        if self.audio is not None:
            drifting = [k for k in rest if self._weak(found[k])]
            drifts = fit_drift_many(
                [(todo[k][1], todo[k][2]) for k in drifting], self.max_shift
            )
            for k, drift in zip(drifting, drifts, strict=True):
                if drift is not None and drift.is_speed_error:
                    found[k] = align_drifting(todo[k][1], todo[k][2], drift) or found[k]
        return found

    def _weak(self, found: Alignment | None) -> bool:
        return found is None or found.similarity < self.settings.auto_threshold

    def _align_straight(
        self, todo: list[tuple[Sequence[int], np.ndarray, np.ndarray]]
    ) -> list[Alignment | None]:
        # Short tracks cannot offer the configured overlap; demand most of
        # what they have, and never less than a few seconds.
        need = [
            max(MIN_FRAMES, min(self.min_overlap, int(0.8 * min(len(fa), len(fb)))))
            for _, fa, fb in todo
        ]
        found = align_many(
            [(fa, fb, hints) for hints, fa, fb in todo],
            max_shift=self.max_shift,
            min_overlaps=need,
        )
        # A key that recurs (a chorus) can hint at the wrong shift.
        again = [
            k for k, (hints, _, _) in enumerate(todo) if hints and self._weak(found[k])
        ]
        plain = align_many(
            [(todo[k][1], todo[k][2], ()) for k in again],
            max_shift=self.max_shift,
            min_overlaps=[need[k] for k in again],
        )
        for k, other in zip(again, plain, strict=True):
            if other is not None and (
                found[k] is None or other.similarity > found[k].similarity
            ):
                found[k] = other
        return found

    def _verify(self, a_id: int, b_id: int, hints: Sequence[int]) -> Match | None:
        found = self._head(a_id, b_id, hints)
        if found is None:
            return None
        a, b = self.tracks[a_id], self.tracks[b_id]
        if self.head_decides(found):
            return None
        off_speed = found.speed != 1.0
        tm = endings.TimeMap(found.speed, found.offset)
        if not endings.stretches_agree(a, b, tm, self.settings.length_tolerance):
            return None
        similarity = found.similarity
        ending = self.endings.similarity(a, b, found)
        if off_speed:
            # The drift only says where to look; the corrected audio decides.
            if ending is None or ending == endings.UNREADABLE:
                return None
            similarity = ending
        elif ending == endings.UNREADABLE:
            # The end could not be read: never merge on half the evidence.
            similarity = min(similarity, self.settings.auto_threshold - 0.01)
        elif ending is not None and ending < self.settings.ask_threshold:
            return None  # another ending: a medley, an alternate outro
        if similarity < self.settings.ask_threshold:
            return None
        return Match(
            a_id,
            b_id,
            round(similarity, 4),
            round(tm.offset, 2) + 0.0,
            round(found.speed, 4),
        )

    def explain(self, a_id: int, b_id: int) -> tuple[Alignment | None, float | None]:
        """The two numbers a verdict rests on: the head alignment (its
        similarity, offset and speed) and the similarity of the ending
        windows (None when not compared). For calibration, not for verdicts.
        """
        found = self._head(a_id, b_id, ())
        if found is None:
            return None, None
        ending = self.endings.similarity(self.tracks[a_id], self.tracks[b_id], found)
        return found, None if ending == endings.UNREADABLE else ending


def find_matches(tracks: Sequence[Track], verifier: Verifier) -> list[Match]:
    """Every match among the tracks: batch candidates, verified on their frames."""
    index = CandidateIndex.of(
        [t.id for t in tracks],
        [t.length for t in tracks],
        [t.sketch if t.sketch is not None else EMPTY for t in tracks],
        verifier.settings.length_tolerance,
    )
    candidates = index.pairs()
    return verify_pairs(candidates.pairs, candidates.hints, verifier)


def verify_pairs(
    pairs: Sequence[tuple[int, int]],
    hints: Mapping[tuple[int, int], list[int]],
    verifier: Verifier,
) -> list[Match]:
    """The pairs that verify, each as a match."""
    tracks = verifier.tracks
    checked = [
        pair
        for pair in with_hints(pairs, hints)
        if verifier.lengths_agree(tracks[pair[0]], tracks[pair[1]])
    ]
    return [m for m in verifier.verify_many(checked) if m is not None]
