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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .similarity import FRAME_SECONDS, align, is_informative, seconds_to_frames

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


def from_head(head: np.ndarray, span: Span) -> np.ndarray | None:
    """The span's frames out of the stored fingerprint, when it reaches them."""
    if span.speed != 1.0:
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
    if not is_informative(window_a) or not is_informative(window_b):
        return None
    expected = seconds_to_frames(b_lead)
    radius = seconds_to_frames(SEARCH_MARGIN) + 2
    found = align(
        window_a,
        window_b,
        max_shift=abs(expected) + radius,
        min_overlap=int(0.6 * len(window_a)),
        hints=[expected],
        hint_radius=radius,
    )
    return None if found is None else found.similarity


class AudioSource(Protocol):
    """Fingerprints of stretches of files that fpcalc did not read (I/O)."""

    def frames(self, path: bytes, span: Span) -> np.ndarray | None: ...

    def prefetch(self, wanted: Iterable[tuple[bytes, Span]]) -> None: ...

    def holds(self, path: bytes, span: Span) -> bool: ...
