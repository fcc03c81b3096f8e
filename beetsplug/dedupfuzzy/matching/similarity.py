"""How alike two recordings sound: the bit error rate of their raw frames.

Chromaprint turns audio into one 32-bit frame every 4096/3 samples at
11025 Hz (about 0.124 s). Two copies of one recording, aligned at the right
time offset, differ in a few percent of their bits; different songs differ in
a third to a half. The similarity reported to users is ``1 - 2 * BER``: 1 for
identical frames, 0 for frames as unrelated as random bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

FRAME_SECONDS = 4096 / 3 / 11025

# A fingerprint whose frames barely change (digital silence, a steady tone)
# says nothing about which recording it is: it would match everything.
MIN_FRAMES = 40
MIN_CHANGE_RATE = 0.25
MIN_DISTINCT = 24
# The shift search looks at every this many frames first.
COARSE_STEP = 4


def seconds_to_frames(seconds: float) -> int:
    return int(round(seconds / FRAME_SECONDS))


def is_informative(frames: np.ndarray) -> bool:
    """Whether a fingerprint carries enough information to be matched."""
    if len(frames) < MIN_FRAMES:
        return False
    changes = np.count_nonzero(frames[1:] != frames[:-1])
    if changes < MIN_CHANGE_RATE * (len(frames) - 1):
        return False
    return len(np.unique(frames)) >= MIN_DISTINCT


def similarity_from_ber(bit_error_rate: float) -> float:
    return max(0.0, min(1.0, 1.0 - 2.0 * bit_error_rate))


@dataclass(frozen=True)
class Alignment:
    """The best way two fingerprints line up.

    `shift` is in frames: frame ``a[i]`` pairs with ``b[i + shift]``, so a
    positive shift means the second copy starts later (leading silence).
    `speed` is b's length per unit of a's (1 unless a drift was followed:
    then ``a[i]`` pairs with ``b[speed * i + shift]``).
    """

    bit_error_rate: float
    shift: int
    overlap: int
    speed: float = 1.0

    @property
    def offset(self) -> float:
        return self.shift * FRAME_SECONDS

    def inverse(self) -> Alignment:
        """The same alignment seen from b (b[j] pairs with a[(j - shift) / speed])."""
        return Alignment(
            self.bit_error_rate,
            int(round(-self.shift / self.speed)),
            self.overlap,
            1.0 / self.speed,
        )

    @property
    def similarity(self) -> float:
        return similarity_from_ber(self.bit_error_rate)


def _score(a: np.ndarray, b: np.ndarray, shift: int) -> tuple[float, int]:
    """Bit error rate and informative overlap of `a` against `b` at `shift`."""
    start = max(0, -shift)
    stop = min(len(a), len(b) - shift)
    if stop - start < 2:
        return 1.0, 0
    sa = a[start:stop]
    sb = b[start + shift : stop + shift]
    # Frames inside a constant run in both copies (silence) prove nothing.
    moving = np.ones(len(sa), dtype=bool)
    moving[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    overlap = int(np.count_nonzero(moving))
    if overlap == 0:
        return 1.0, 0
    errors = np.bitwise_count(np.bitwise_xor(sa[moving], sb[moving]))
    return float(errors.sum(dtype=np.int64)) / (32.0 * overlap), overlap


def _coarse_shifts(
    a: np.ndarray, b: np.ndarray, max_shift: int, keep: int
) -> list[int]:
    """The `keep` most promising shifts, all tried at once on a padded copy of b.

    Pairs every frame of `a` with `b` at each shift in one 2-D array (a view,
    not a copy); padding frames count as neither errors nor overlap. Every
    `COARSE_STEP`-th frame of a long fingerprint is enough to rank the shifts
    (the few kept are then scored on every frame).
    """
    n = len(a)
    step = COARSE_STEP if n >= COARSE_STEP * MIN_FRAMES else 1
    width = 2 * max_shift + 1
    padded = np.zeros(n + 2 * max_shift + len(b), dtype=np.uint32)
    valid = np.zeros(len(padded), dtype=bool)
    padded[max_shift : max_shift + len(b)] = b
    valid[max_shift : max_shift + len(b)] = True
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)[:width, ::step]
    masks = np.lib.stride_tricks.sliding_window_view(valid, n)[:width, ::step]
    errors = np.bitwise_count(windows ^ a[None, ::step])
    errors[~masks] = 0
    sampled = masks.sum(axis=1)
    ber = errors.sum(axis=1, dtype=np.int64) / np.maximum(1, 32 * sampled)
    ber[sampled * step < MIN_FRAMES] = 1.0
    order = np.argsort(ber, kind="stable")[:keep]
    # Row k of the window array is shift k - max_shift.
    return [int(k) - max_shift for k in order]


def align(
    a: np.ndarray,
    b: np.ndarray,
    *,
    max_shift: int,
    min_overlap: int,
    hints: Iterable[int] = (),
    hint_radius: int = 2,
) -> Alignment | None:
    """Find the shift (within +-max_shift frames) with the lowest BER.

    With `hints` (shifts suggested by shared index keys) only shifts near
    them are tried; without, a vectorised pass over every shift in range
    picks a few, which are then scored exactly. Shifts whose overlap is
    shorter than `min_overlap` frames are not considered: a short overlap
    proves nothing. Returns None when no shift qualifies.
    """
    hints = [h for h in hints if abs(h) <= max_shift]
    if not hints and len(a) and len(b):
        hints = _coarse_shifts(a, b, max_shift, keep=3)
        hint_radius = 1
    shifts = sorted(
        {
            s
            for h in hints
            for s in range(h - hint_radius, h + hint_radius + 1)
            if abs(s) <= max_shift
        }
    )
    best: Alignment | None = None
    for shift in shifts:
        ber, overlap = _score(a, b, shift)
        if overlap < min_overlap:
            continue
        if best is None or ber < best.bit_error_rate:
            best = Alignment(ber, shift, overlap)
    return best


# Off-speed copies (a turntable or tape running a fraction of a percent fast
# or slow) stretch time and pitch together: their best shift drifts linearly
# along the track. Blocks of this many frames (about 8 s) are short enough to
# see a 2 % drift as a steady step from block to block, long enough to give
# each block a clear best shift.
DRIFT_BLOCK = 64
# A block whose best BER is above this lines up with nothing in particular.
DRIFT_BLOCK_BER = 0.42
# Speed ratios closer to 1 than this are no speed error at all; beyond the
# maximum, Chromaprint's chroma bins no longer line up, even block by block.
MIN_SPEED_ERROR = 0.001
MAX_SPEED_ERROR = 0.03


@dataclass(frozen=True)
class Drift:
    """A linear drift of the best shift: b[speed * i + shift] pairs with a[i].

    `speed` is b's frames per frame of a: above 1, b lasts longer (it runs
    slow); `inliers` is the share of blocks that lie on the line.
    """

    speed: float
    shift: float
    inliers: float

    @property
    def is_speed_error(self) -> bool:
        return MIN_SPEED_ERROR <= abs(self.speed - 1.0) <= MAX_SPEED_ERROR


def block_shifts(
    a: np.ndarray,
    b: np.ndarray,
    max_shift: int,
    block: int = DRIFT_BLOCK,
    need: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each block of `a`: its centre, its best shift in `b` and that BER.

    With `need`, stops as soon as fewer than `need` blocks could line up
    (BER within `DRIFT_BLOCK_BER`): most pairs of different songs are told
    apart by their first blocks.
    """
    width = 2 * max_shift + 1
    padded = np.zeros(len(b) + 2 * max_shift + block, dtype=np.uint32)
    valid = np.zeros(len(padded), dtype=bool)
    padded[max_shift : max_shift + len(b)] = b
    valid[max_shift : max_shift + len(b)] = True
    windows = np.lib.stride_tricks.sliding_window_view(padded, block)
    masks = np.lib.stride_tricks.sliding_window_view(valid, block)
    centres, shifts, bers = [], [], []
    starts = range(0, len(a) - block + 1, block)
    good = 0
    for done, start in enumerate(starts):
        if good + len(starts) - done < need:
            break
        # Row k of this slice is shift k - max_shift.
        rows = windows[start : start + width]
        inside = masks[start : start + width]
        errors = np.bitwise_count(rows ^ a[start : start + block][None, :])
        errors[~inside] = 0
        overlap = inside.sum(axis=1)
        ber = errors.sum(axis=1, dtype=np.int64) / np.maximum(1, 32 * overlap)
        ber[overlap < 0.8 * block] = 1.0
        k = int(np.argmin(ber))
        centres.append(start + block / 2)
        shifts.append(k - max_shift)
        bers.append(float(ber[k]))
        good += bers[-1] <= DRIFT_BLOCK_BER
    return np.array(centres), np.array(shifts, dtype=float), np.array(bers)


def fit_drift(a: np.ndarray, b: np.ndarray, max_shift: int) -> Drift | None:
    """The line that block shifts follow, when most blocks agree on one.

    Robust to blocks that matched something else (a repeated chorus, a
    pregap): the slope is the median of the pairwise slopes (Theil-Sen),
    then refined by least squares over the blocks within 1.5 frames of it.
    """
    blocks = len(range(0, len(a) - DRIFT_BLOCK + 1, DRIFT_BLOCK))
    # Fewer good blocks than this can never give enough blocks on one line.
    need = max(5, int(np.ceil(0.6 * blocks)))
    centres, shifts, bers = block_shifts(a, b, max_shift, need=need)
    if len(centres) < blocks:
        return None
    good = bers <= DRIFT_BLOCK_BER
    if good.sum() < 5:
        return None
    t, s = centres[good], shifts[good]
    i, j = np.triu_indices(len(t), k=1)
    slope = float(np.median((s[j] - s[i]) / (t[j] - t[i])))
    intercept = float(np.median(s - slope * t))
    near = np.abs(s - (slope * t + intercept)) <= 1.5
    if near.sum() < max(5, 0.6 * len(centres)):
        return None
    if np.ptp(t[near]) > 0:
        slope, intercept = (float(x) for x in np.polyfit(t[near], s[near], 1))
    return Drift(1.0 + slope, intercept, float(near.sum()) / len(centres))


def align_drifting(a: np.ndarray, b: np.ndarray, drift: Drift) -> Alignment | None:
    """BER of `a` against `b` along the drift line (frame-nearest pairing)."""
    i = np.arange(len(a))
    j = np.rint(drift.speed * i + drift.shift).astype(np.int64)
    inside = (j >= 0) & (j < len(b))
    if inside.sum() < MIN_FRAMES:
        return None
    sa, sb = a[i[inside]], b[j[inside]]
    moving = np.ones(len(sa), dtype=bool)
    moving[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    overlap = int(np.count_nonzero(moving))
    if overlap < MIN_FRAMES:
        return None
    errors = np.bitwise_count(np.bitwise_xor(sa[moving], sb[moving]))
    ber = float(errors.sum(dtype=np.int64)) / (32.0 * overlap)
    return Alignment(ber, int(round(drift.shift)), overlap, drift.speed)
