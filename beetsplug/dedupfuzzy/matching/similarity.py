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
    # Enough distinct values among the first frames settles it (most
    # fingerprints) without hashing them all.
    if len(np.unique(frames[: 8 * MIN_DISTINCT])) >= MIN_DISTINCT:
        return True
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


def _score_many(
    a: np.ndarray, b: np.ndarray, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bit error rate and informative overlap of `a` against `b` at each shift.

    All shifts at once: row k pairs every frame of `a` with `b` at shift k,
    on a zero-padded copy of b; a frame counts where both copies hold it
    and it is no repeat in both (frames inside a constant run in both copies,
    silence, prove nothing), the first frame of an overlap always. A shift
    overlapping fewer than two frames scores BER 1 over nothing.
    """
    n, m = len(a), len(b)
    low, high = int(shifts.min()), int(shifts.max())
    # padded[p] is b[p + low] (zero outside b); row k starts at shift k - low.
    padded = np.zeros(n + high - low + 1, dtype=np.uint32)
    src_start, src_stop = max(0, low), min(m, n + high)
    if src_stop > src_start:
        padded[src_start - low : src_stop - low] = b[src_start:src_stop]
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)[shifts - low]
    column = np.arange(n)
    starts = np.maximum(0, -shifts)
    stops = np.minimum(n, m - shifts)
    inside = (column[None, :] >= starts[:, None]) & (column[None, :] < stops[:, None])
    moving = np.empty(windows.shape, dtype=bool)
    moving[:, 0] = True
    np.not_equal(windows[:, 1:], windows[:, :-1], out=moving[:, 1:])
    moving[:, 1:] |= (a[1:] != a[:-1])[None, :]
    rows = np.flatnonzero(stops > starts)
    moving[rows, starts[rows]] = True
    moving &= inside
    overlap = moving.sum(axis=1)
    errors = np.bitwise_count(windows ^ a[None, :])
    errors[~moving] = 0
    total = errors.sum(axis=1, dtype=np.int64)
    ber = np.where(overlap > 0, total / (32.0 * np.maximum(1, overlap)), 1.0)
    short = stops - starts < 2
    ber[short] = 1.0
    overlap[short] = 0
    return ber, overlap


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
    padded[max_shift : max_shift + len(b)] = b
    sampled_a = a[::step]
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)[:width, ::step]
    total = np.bitwise_count(windows ^ sampled_a[None, :]).sum(axis=1, dtype=np.int64)
    # A padding frame (0) adds its frame of a's popcount: take that out. Row
    # r holds b from a's frame max_shift - r on, for len(b) frames: in
    # sampled columns, [prefix, suffix).
    rows = np.arange(width)
    prefix = np.clip(-((rows - max_shift) // step), 0, len(sampled_a))
    suffix = np.clip(-((rows - max_shift - len(b)) // step), 0, len(sampled_a))
    ones = np.zeros(len(sampled_a) + 1, dtype=np.int64)
    np.cumsum(np.bitwise_count(sampled_a), out=ones[1:])
    total -= ones[prefix] + ones[-1] - ones[suffix]
    sampled = np.maximum(0, suffix - prefix)
    ber = total / np.maximum(1, 32 * sampled)
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
    if not shifts:
        return None
    tried = np.array(shifts)
    bers, overlaps = _score_many(a, b, tried)
    qualified = np.flatnonzero(overlaps >= min_overlap)
    if not len(qualified):
        return None
    # The lowest BER; among equals, the smallest shift.
    k = int(qualified[np.argmin(bers[qualified])])
    return Alignment(float(bers[k]), int(tried[k]), int(overlaps[k]))


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
    apart by their first blocks, so those are scored first, all at once,
    and the rest only when enough of them could still line up.
    """
    count = len(range(0, len(a) - block + 1, block))
    if count == 0 or need > count:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    # Long enough for every window of every block (a may be longer than b).
    padded = np.zeros(max(len(a), len(b)) + 2 * max_shift + block, np.uint32)
    padded[max_shift : max_shift + len(b)] = b
    blocks = a[: count * block].reshape(count, block)
    first = count if need <= 0 else count - need + 1
    parts = [_best_shifts(blocks, padded, len(b), max_shift, 0, first)]
    bad = int(np.count_nonzero(parts[0][1] > DRIFT_BLOCK_BER))
    if first < count and count - bad >= need:
        parts.append(_best_shifts(blocks, padded, len(b), max_shift, first, count))
    shifts = np.concatenate([p[0] for p in parts])
    bers = np.concatenate([p[1] for p in parts])
    if need > 0:
        # Where a block-by-block search stops: after the first block that
        # leaves too few blocks to line up.
        good = np.cumsum(bers <= DRIFT_BLOCK_BER)
        done = np.arange(1, len(bers) + 1)
        hopeless = np.flatnonzero(good + count - done < need)
        if len(hopeless):
            keep = int(hopeless[0]) + 1
            shifts, bers = shifts[:keep], bers[:keep]
    centres = np.arange(len(bers)) * block + block / 2
    return centres, shifts.astype(float), bers


def _best_shifts(
    blocks: np.ndarray,
    padded: np.ndarray,
    length: int,
    max_shift: int,
    start: int,
    stop: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Blocks `start` to `stop`: each one's best shift in b and its BER.

    Every shift of every block in one array (blocks x shifts x frames) over
    `padded`, b (`length` frames) with `max_shift` zeros on either side.
    """
    block = blocks.shape[1]
    width = 2 * max_shift + 1
    part = blocks[start:stop]
    step = padded.strides[0]
    rows = np.lib.stride_tricks.as_strided(
        padded[start * block :],
        shape=(stop - start, width, block),
        strides=(block * step, step, step),
        writeable=False,
    )
    total = np.bitwise_count(rows ^ part[:, None, :]).sum(axis=2, dtype=np.int64)
    # A padding frame (0) adds its frame of a's popcount: take that out. The
    # frames of a window outside b are a prefix and a suffix of the block.
    lead = (np.arange(start, stop) * block)[:, None] + np.arange(width)[None, :]
    prefix = np.clip(max_shift - lead, 0, block)
    suffix = np.clip(max_shift + length - lead, 0, block)
    ones = np.zeros((stop - start, block + 1), dtype=np.int64)
    np.cumsum(np.bitwise_count(part), axis=1, out=ones[:, 1:])
    total -= np.take_along_axis(ones, prefix, axis=1)
    total -= ones[:, -1:] - np.take_along_axis(ones, suffix, axis=1)
    overlap = np.maximum(0, suffix - prefix)
    ber = total / np.maximum(1, 32 * overlap)
    ber[overlap < 0.8 * block] = 1.0
    k = np.argmin(ber, axis=1)
    return k - max_shift, ber[np.arange(len(k)), k]


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
