"""Do two copies end alike? Where to look, and how alike the ends are.

Two files whose first two minutes match can still be different edits: a
medley that leaves the song after 90 s, an alternate ending, a hidden track.
The verdict therefore also compares a window near the end: from 37 s to
25 s before it. A DJ-mix copy whose last 25 s cross-fade into the next song
still matches there; a copy with 37 s or more of other material at the end
does not.

The window is taken from the stored fingerprint when fpcalc's two minutes
reach it (files shorter than about 2:25), else from a short excerpt of the
file (`fingerprinting.excerpts`), decoded only when a pair needs it and then
shared by all the file's pairs. An off-speed copy's excerpt is played back at
the corrected speed: its frames then line up with the other copy's without
drift, and their BER is the pair's similarity. Everything here is plain
arithmetic on times and frames.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .similarity import (
    FRAME_SECONDS,
    Alignment,
    align_many,
    informative_many,
    seconds_to_frames,
)

# The window, in seconds before the end of the file.
WINDOW_FROM = 37.0
WINDOW_TO = 25.0
# Shorter windows (very short tracks) are not worth a look: the first two
# minutes already saw them.
MIN_WINDOW = 8.0
# Extra audio decoded on both sides of a window: in front, Chromaprint's
# filters settle; around the second copy's, the alignment searches. Both
# copies read the same span shape, so a file's excerpt serves all its pairs.
SEARCH_MARGIN = 2.5


@dataclass(frozen=True)
class TimeMap:
    """Where a moment of copy a lies in copy b: ``speed * t + offset`` seconds."""

    speed: float = 1.0
    offset: float = 0.0

    def to_b(self, t: float) -> float:
        return self.speed * t + self.offset


def stretch_difference(length_a: float, length_b: float, tm: TimeMap) -> float:
    """How much longer b runs than a once b's lead-in and speed are accounted for.

    A copy with 8 s of room noise in front is 8 s longer and starts 8 s
    later: 0. An intro cut or a radio edit starts at the same place and is
    shorter: their whole difference.
    """
    return length_b - tm.to_b(length_a)


@dataclass(frozen=True)
class Span:
    """A stretch of one file to fingerprint: `seconds` from `start`, at `speed`.

    Of its frames, `keep` after the first `skip` are wanted (all when None).
    """

    start: float
    seconds: float
    speed: float = 1.0
    skip: int = 0
    keep: int | None = None

    def wanted(self, frames: np.ndarray) -> np.ndarray:
        stop = None if self.keep is None else self.skip + self.keep
        return frames[self.skip : stop]


def file_span(length: float, speed: float = 1.0) -> Span:
    """The part of a file its ending is judged on, with a margin on each side.

    It depends on the file alone (and the speed it is played back at), so
    one excerpt serves every pair the file is in; the stretch check has
    already made the two copies' ends agree within `length_tolerance`.
    """
    speed = round(speed, 3)  # as played back: near-equal speeds share one excerpt
    start = max(0.0, length - (WINDOW_FROM + SEARCH_MARGIN) * speed)
    stop = max(start, length - (WINDOW_TO - SEARCH_MARGIN) * speed)
    return Span(start, stop - start, speed)


def window_spans(
    length_a: float, length_b: float, tm: TimeMap
) -> tuple[Span, Span] | None:
    """What to compare: a's window (its margins cut off), and b's whole span.

    None when the window is too short to be worth it (a very short track:
    the first two minutes saw all of it).
    """
    a = file_span(length_a)
    lo = a.start + (SEARCH_MARGIN if a.start > 0 else 0.0)
    hi = length_a - WINDOW_TO
    if hi - lo < MIN_WINDOW:
        return None
    window = Span(
        a.start,
        a.seconds,
        1.0,
        seconds_to_frames(lo - a.start),
        seconds_to_frames(hi - lo),
    )
    return window, file_span(length_b, tm.speed)


def b_lead(window: Span, b_span: Span, tm: TimeMap) -> float:
    """Seconds (in a's time scale) from the start of b's excerpt to a's window."""
    lo = window.start + window.skip * FRAME_SECONDS
    return (tm.to_b(lo) - b_span.start) / tm.speed


def from_head(head: np.ndarray | None, span: Span) -> np.ndarray | None:
    """The span's frames out of the stored fingerprint, when it reaches them."""
    if head is None or span.speed != 1.0:
        return None
    first = seconds_to_frames(span.start)
    last = seconds_to_frames(span.start + span.seconds)
    if last > len(head):
        return None
    return span.wanted(head[first:last])


def ending_similarity(
    window_a: np.ndarray, window_b: np.ndarray, b_lead: float
) -> float | None:
    """How alike the two windows are (1 - 2 * BER), None when silent or too short.

    `b_lead` is how many seconds earlier b's excerpt starts than a's window
    (in a's time scale): the alignment looks for the best shift near it.
    """
    return ending_similarities([(window_a, window_b, b_lead)])[0]


def ending_similarities(
    windows: Sequence[tuple[np.ndarray, np.ndarray, float]],
) -> list[float | None]:
    """`ending_similarity` of many pairs of windows, aligned together."""
    found: list[float | None] = [None] * len(windows)
    informative = informative_many([w for a, b, _ in windows for w in (a, b)])
    todo = [k for k in range(len(windows)) if all(informative[2 * k : 2 * k + 2])]
    if not todo:
        return found
    radius = seconds_to_frames(SEARCH_MARGIN) + 2
    expected = [seconds_to_frames(windows[k][2]) for k in todo]
    # Each pair tries only the shifts around its own lead: a common bound
    # that holds them all changes nothing.
    aligned = align_many(
        [
            (windows[k][0], windows[k][1], [e])
            for k, e in zip(todo, expected, strict=True)
        ],
        max_shift=max(abs(e) for e in expected) + radius,
        min_overlaps=[int(0.6 * len(windows[k][0])) for k in todo],
        hint_radius=radius,
    )
    for k, alignment in zip(todo, aligned, strict=True):
        found[k] = None if alignment is None else alignment.similarity
    return found


class AudioSource(Protocol):
    """Fingerprints of stretches of files that fpcalc did not read (I/O)."""

    def frames(self, path: bytes, span: Span) -> np.ndarray | None: ...

    def prefetch(self, wanted: Iterable[tuple[bytes, Span]]) -> None: ...

    def holds(self, path: bytes, span: Span) -> bool: ...


class Copy(Protocol):
    """What the ending check needs of a track."""

    id: int
    path: bytes
    length: float


# A similarity no pair can have: the audio of an ending could not be decoded.
UNREADABLE = -1.0


def stretches_agree(a: Copy, b: Copy, tm: TimeMap, tolerance: float) -> bool:
    """The stretch both copies hold must agree, not the file lengths: a
    lead-in of room noise is no other edit, an intro cut is."""
    if not a.length or not b.length:
        return True
    return abs(stretch_difference(a.length, b.length, tm)) <= tolerance


class EndingCheck:
    """Compares the ends of aligned pairs, decoding only what fingerprints lack.

    `frames_of` gives a track's stored frames; `audio` decodes excerpts
    (None: pairs whose window lies past the fingerprint are not compared,
    and off-speed pairs cannot be confirmed).
    """

    def __init__(
        self,
        frames_of: Callable[[int], np.ndarray | None],
        audio: AudioSource | None,
        tolerance: float,
    ) -> None:
        self.frames_of = frames_of
        self.audio = audio
        self.tolerance = tolerance
        # Off-speed pairs whose first copy, not the second, is played back
        # at the corrected speed (see `choose_playback`).
        self._play_first: set[tuple[int, int]] = set()
        # Similarities compared ahead (`prepare`): pair -> (alignment, value).
        self._prepared: dict[tuple[int, int], tuple[Alignment, float | None]] = {}

    def choose_playback(self, pairs: Iterable[tuple[Copy, Copy, Alignment]]) -> None:
        """For off-speed pairs, which copy to play back at the corrected speed.

        One vinyl rip running 0.8 % slow beside three copies at the right
        speed: playing the rip 0.8 % faster serves all three pairs with one
        excerpt; correcting the three others would take three. Each pair
        takes the side that more pairs of this batch would share.
        """
        options = []
        votes: Counter[tuple[bytes, float]] = Counter()
        for a, b, found in pairs:
            if found.speed == 1.0:
                continue
            play_a = (a.path, round(1.0 / found.speed, 3))
            play_b = (b.path, round(found.speed, 3))
            options.append((a.id, b.id, play_a, play_b))
            votes.update((play_a, play_b))
        for a_id, b_id, play_a, play_b in options:
            if votes[play_a] > votes[play_b]:
                self._play_first.add((a_id, b_id))

    def forget(self, a: Copy, b: Copy) -> None:
        self._play_first.discard((a.id, b.id))
        self._prepared.pop((a.id, b.id), None)

    def prepare(self, pairs: Iterable[tuple[Copy, Copy, Alignment]]) -> None:
        """Compare at once the ending windows of these pairs that stored
        fingerprints hold (one array operation for a chunk of pairs, not
        one per pair); `similarity` then reads them."""
        todo = []
        for a, b, found in pairs:
            placed = self._spans(*self._played(a, b, found))
            if placed is None:
                continue
            x, y, span_x, span_y, tm = placed
            window_x = from_head(self.frames_of(x.id), span_x)
            window_y = from_head(self.frames_of(y.id), span_y)
            if window_x is not None and window_y is not None:
                lead = b_lead(span_x, span_y, tm)
                todo.append(((a.id, b.id), found, (window_x, window_y, lead)))
        values = ending_similarities([windows for _, _, windows in todo])
        for (pair, found, _), value in zip(todo, values, strict=True):
            self._prepared[pair] = (found, value)

    def needed(self, a: Copy, b: Copy, found: Alignment) -> list[tuple[bytes, Span]]:
        """The excerpts `similarity` will ask the audio source for."""
        placed = self._spans(*self._played(a, b, found))
        if placed is None:
            return []
        x, y, span_x, span_y, _ = placed
        return [
            (track.path, span)
            for track, span in ((x, span_x), (y, span_y))
            if from_head(self.frames_of(track.id), span) is None
        ]

    def similarity(self, a: Copy, b: Copy, found: Alignment) -> float | None:
        """The similarity of the two copies' ending windows.

        None when there is nothing to compare (a short track, a silent
        window, no audio source); UNREADABLE when the audio needed could not
        be decoded.
        """
        ready = self._prepared.get((a.id, b.id))
        if ready is not None and ready[0] == found:
            return ready[1]
        placed = self._spans(*self._played(a, b, found))
        if placed is None:
            return None
        x, y, span_x, span_y, tm = placed
        frames = []
        for track, span in ((x, span_x), (y, span_y)):
            got = from_head(self.frames_of(track.id), span)
            if got is None:
                if self.audio is None:
                    return None
                got = self.audio.frames(track.path, span)
                if got is None:
                    return UNREADABLE
            frames.append(got)
        return ending_similarity(frames[0], frames[1], b_lead(span_x, span_y, tm))

    def _played(
        self, a: Copy, b: Copy, found: Alignment
    ) -> tuple[Copy, Copy, Alignment]:
        """The pair ordered so that its second copy is the one played back.

        Outside a batch, the side already decoded for another pair is taken.
        """
        if found.speed == 1.0:
            return a, b, found
        flip = (a.id, b.id) in self._play_first
        if not flip and self.audio is not None:
            back = found.inverse()
            flip = self.audio.holds(
                a.path, file_span(a.length, back.speed)
            ) and not self.audio.holds(b.path, file_span(b.length, found.speed))
        return (b, a, found.inverse()) if flip else (a, b, found)

    def _spans(
        self, a: Copy, b: Copy, found: Alignment
    ) -> tuple[Copy, Copy, Span, Span, TimeMap] | None:
        tm = TimeMap(found.speed, found.offset)
        if not a.length or not b.length:
            return None
        if not stretches_agree(a, b, tm, self.tolerance):
            return None
        spans = window_spans(a.length, b.length, tm)
        return None if spans is None else (a, b, *spans, tm)
