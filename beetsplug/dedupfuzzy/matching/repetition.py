"""Repetition profiles: the candidate key that survives speed errors.

A turntable or tape a fraction of a percent off speed shifts pitch and tempo
together. Chromaprint's chroma bins then take the notes a bin further up or
down, so a quarter of the frame bits change (0.3 % fast: 10-19 % of bits;
0.8-2 % off: 19-37 %): no frame stays bit-identical for the sketch keys, and
the bit profile moves as far as another song's. What does not change is
which moments of the recording resemble which others: the same transform is
applied to every frame, so a passage that repeats a bar, a phrase or a
chorus later still repeats it, at a lag only the tempo error stretches.

A repetition profile measures that: for each quarter of the fingerprint,
the bit error rate between each frame and the frame a lag later, at 12 lags
from 0.5 s to 12 s, normalised to its shape (mean 0, spread 1). Copies of a
recording keep it (on the generated corpus: a pregap 0.30, 0.3 % fast 0.19,
0.8 % slow 0.25, 2 % off 0.34 median distance), other songs lie about
1.0 away (their nearest one at 0.43 median, so the profile narrows the
search but does not decide anything: the verifier does).

`repetition_search` proposes each track's nearest profile among the tracks
whose length fits a speed error (`MAX_SPEED_ERROR` of the length, plus the
length tolerance), within `RADIUS`: one pair per track in batch mode, two in
query mode, whatever the library holds (the search is `nearest`'s, shared
with the bit profiles).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .nearest import NearestProfiles
from .similarity import MAX_SPEED_ERROR

# Lags in frames (0.5 s to 12 s), geometric: a speed error stretches every
# lag by the same factor, which moves a long lag as little as a short one.
LAGS = np.unique(np.round(np.geomspace(4, 96, 12)).astype(np.int64))
PARTS = 4
DIMS = PARTS * len(LAGS)
# Each quarter must hold its longest lag.
MIN_FRAMES = PARTS * int(LAGS[-1])
# Euclidean distance between scaled profiles. On 30 generated songs, copies
# 0.8 % slow lie within 0.40 of their master (90th percentile), 2 % off within
# 0.53-0.68 (one at 0.95); other songs' profiles about 1.0 away, and so do
# noise-like tracks from each other (their nearest: 0.9-1.0), so a wider
# radius would pair every noise-like track. The radius only spares tracks
# with nothing near: the number of neighbours bounds the pairs.
RADIUS = 0.7
NEIGHBOURS = 1
# Copies that keep their frames (transcodes) lie 0.00-0.02 apart, off-speed
# copies 0.09 (one 0.3 % fast) to 0.95 from their master: closer than this,
# one recording, which takes one place among a track's nearest (see
# `nearest`). A copy taken for its master's twin loses nothing: its own
# nearest is still its master; the rule only adds pairs.
TWIN = 0.08
_CLIP = 4.0


def repetition_profile(frames: np.ndarray) -> np.ndarray | None:
    """The profile (float32[DIMS]), or None for a fingerprint too short.

    Quarter k pairs each frame from its start up to the next quarter's
    start plus the longest lag with the frame a lag later; the BER of those
    pairs, per lag, is the quarter's row.
    """
    return repetition_profiles([frames])[0]


def repetition_profiles(prints: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """`repetition_profile` of many fingerprints, computed together.

    The long enough ones are laid end to end, each followed by `longest`
    zero frames, so a frame's partner a lag later is its own track's (or a
    zero past its end: such pairs lie outside every quarter).
    """
    longest = int(LAGS[-1])
    usable = [k for k, f in enumerate(prints) if len(f) > MIN_FRAMES]
    found: list[np.ndarray | None] = [None] * len(prints)
    if not usable:
        return found
    n = np.array([len(prints[k]) for k in usable], dtype=np.int64)
    base = np.concatenate([[0], np.cumsum(n + longest)[:-1]])
    laid = np.zeros(int((n + longest).sum()) + longest, np.uint32)
    for k, at in zip(usable, base.tolist(), strict=True):
        laid[at : at + len(prints[k])] = prints[k]
    size = len(laid) - longest
    parts = np.arange(PARTS)[None, :, None]
    length = n[:, None, None]
    starts = parts * length // PARTS
    stops = np.minimum(length, (parts + 1) * length // PARTS + longest)
    stops = stops - LAGS[None, None, :]
    offset = base[:, None, None]
    # Changed bits per lag, summed over each quarter's range: one reduceat
    # over (start, stop) index pairs gives every range's sum at the even
    # places (ranges overlap, so the odd places are left unused).
    changes = np.zeros(starts.shape[:2] + (len(LAGS),), np.int64)
    for row, lag in enumerate(LAGS.tolist()):
        changed = np.bitwise_count(laid[:size] ^ laid[lag : lag + size])
        ends = np.stack(
            [(offset + starts)[:, :, 0], (offset + stops)[:, :, row]], axis=2
        )
        sums = np.add.reduceat(
            changed, np.minimum(ends.ravel(), size - 1), dtype=np.int64
        )
        changes[:, :, row] = sums[0::2].reshape(len(usable), PARTS)
    ber = changes / (32.0 * (stops - starts))
    mean = ber.mean(axis=2, keepdims=True)
    spread = ber.std(axis=2, keepdims=True)
    z = np.where(spread > 0, (ber - mean) / np.where(spread > 0, spread, 1), 0.0)
    z = np.clip(z.reshape(len(usable), DIMS), -_CLIP, _CLIP)
    profiles = (z / np.sqrt(DIMS)).astype(np.float32)
    for k, profile in zip(usable, profiles, strict=True):
        found[k] = profile
    return found


def encode(profile: np.ndarray) -> bytes:
    """One byte per dimension."""
    z = profile * np.sqrt(DIMS)
    return np.round((z + _CLIP) * (255 / (2 * _CLIP))).astype(np.uint8).tobytes()


def decode(raw: bytes) -> np.ndarray | None:
    if len(raw) != DIMS:
        return None
    return decode_many(np.frombuffer(raw, np.uint8).reshape(1, DIMS))[0]


def decode_many(quantised: np.ndarray) -> np.ndarray:
    """Rows of bytes (n x DIMS) back to profiles."""
    z = quantised.astype(np.float32) * (2 * _CLIP / 255) - _CLIP
    return (z / np.sqrt(DIMS)).astype(np.float32)


def window(length: float | np.ndarray, tolerance: float) -> float | np.ndarray:
    """How far another copy's length may lie: a speed error and the tolerance."""
    return tolerance + MAX_SPEED_ERROR * length


def repetition_search(
    ids: Sequence[int], lengths: Sequence[float], profiles: np.ndarray, tolerance: float
) -> NearestProfiles:
    """Nearest repetition profiles among tracks whose lengths fit a speed error."""
    return NearestProfiles(
        ids, lengths, profiles, lambda length: window(length, tolerance), RADIUS,
        NEIGHBOURS, TWIN,
    )  # fmt: skip
