"""How alike two recordings sound: the bit error rate of their raw frames.

Chromaprint turns audio into one 32-bit frame every 4096/3 samples at
11025 Hz (about 0.124 s). Two copies of one recording, aligned at the right
time offset, differ in a few percent of their bits; different songs differ in
a third to a half. The similarity reported to users is ``1 - 2 * BER``: 1 for
identical frames, 0 for frames as unrelated as random bits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import shifts

FRAME_SECONDS = 4096 / 3 / 11025
# What matching compares is a fingerprint's head: the stretch fpcalc stores
# (its first two minutes). A fingerprint of a whole track (an adopted one)
# is compared on the same stretch; its ends serve the ending check.
HEAD_SECONDS = 120
HEAD_FRAMES = int(np.ceil(HEAD_SECONDS / FRAME_SECONDS))

# A fingerprint whose frames barely change (digital silence, a steady tone)
# says nothing about which recording it is: it would match everything.
MIN_FRAMES = 40
MIN_CHANGE_RATE = 0.25
MIN_DISTINCT = 24
# The shift search looks at every this many frames first.
COARSE_STEP = 4


def seconds_to_frames(seconds: float) -> int:
    return int(round(seconds / FRAME_SECONDS))


def head(frames: np.ndarray) -> np.ndarray:
    """The frames matching compares (`HEAD_SECONDS`)."""
    return frames[:HEAD_FRAMES]


def is_informative(frames: np.ndarray) -> bool:
    """Whether a fingerprint carries enough information to be matched: long
    enough, changing often enough, with enough distinct values."""
    return informative_many([frames])[0]


def informative_many(prints: Sequence[np.ndarray]) -> list[bool]:
    """`is_informative` of many fingerprints, tested together: the changes of
    all of them in one pass, the distinct values among each one's first
    frames in one sort; only the few that need it count all their values."""
    if not prints:
        return []
    lengths = np.array([len(f) for f in prints], np.int64)
    laid = np.concatenate([*prints, np.zeros(1, np.uint32)])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    changed = np.zeros(len(laid), np.int64)
    changed[1:-1] = laid[1:-1] != laid[:-2]
    changed[starts] = 0  # a print's first frame follows another print's last
    changes = np.where(lengths > 0, np.add.reduceat(changed, starts), 0)
    moving = (lengths >= MIN_FRAMES) & (changes >= MIN_CHANGE_RATE * (lengths - 1))
    # The first frames of each, padded with its own first frame (no new value).
    few = 8 * MIN_DISTINCT
    width = np.minimum(lengths, few)
    column = np.arange(few)[None, :]
    index = starts[:, None] + np.where(column < width[:, None], column, 0)
    first = np.sort(laid[index], axis=1)
    distinct = 1 + (first[:, 1:] != first[:, :-1]).sum(axis=1)
    found = moving & (distinct >= MIN_DISTINCT)
    for k in np.flatnonzero(moving & ~found).tolist():
        found[k] = len(np.unique(prints[k])) >= MIN_DISTINCT
    return found.tolist()


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
    return align_many(
        [(a, b, hints)],
        max_shift=max_shift,
        min_overlaps=[min_overlap],
        hint_radius=hint_radius,
    )[0]


def align_many(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, Iterable[int]]],
    *,
    max_shift: int,
    min_overlaps: Sequence[int],
    hint_radius: int = 2,
) -> list[Alignment | None]:
    """`align` for many pairs (a, b, hints) at once (see `shifts`)."""
    tried: list[list[int]] = []
    unhinted: dict[int, list[int]] = {1: [], COARSE_STEP: []}
    for k, (a, b, hints) in enumerate(pairs):
        near = [h for h in hints if abs(h) <= max_shift]
        tried.append(_around(near, hint_radius, max_shift))
        if not near and len(a) and len(b):
            step = COARSE_STEP if len(a) >= COARSE_STEP * MIN_FRAMES else 1
            unhinted[step].append(k)
    for step, ks in unhinted.items():
        if ks:
            best = shifts.coarse_shifts(
                [pairs[k][:2] for k in ks], max_shift, 3, step, MIN_FRAMES
            )
            for k, row in zip(ks, best.tolist(), strict=True):
                tried[k] = _around(row, 1, max_shift)
    found: list[Alignment | None] = [None] * len(pairs)
    scored = [k for k in range(len(pairs)) if tried[k]]
    if not scored:
        return found
    # Each pair's shifts in ascending order, the last repeated to fill the
    # row (a repeat never wins: the first of equal BERs does).
    most = max(len(tried[k]) for k in scored)
    grid = np.array([tried[k] + tried[k][-1:] * (most - len(tried[k])) for k in scored])
    bers, overlaps = shifts.score_shifts(
        [pairs[k][:2] for k in scored], grid, max_shift
    )
    ok = overlaps >= np.array([min_overlaps[k] for k in scored])[:, None]
    # The lowest BER; among equals, the smallest shift.
    best = np.argmin(np.where(ok, bers, np.inf), axis=1)
    for row, (k, c) in enumerate(zip(scored, best.tolist(), strict=True)):
        if ok[row, c]:
            found[k] = Alignment(
                float(bers[row, c]), int(grid[row, c]), int(overlaps[row, c])
            )
    return found


def _around(centres: Iterable[int], radius: int, max_shift: int) -> list[int]:
    """The shifts within `radius` of the centres, in range, ascending."""
    return sorted(
        {
            s
            for c in centres
            for s in range(c - radius, c + radius + 1)
            if abs(s) <= max_shift
        }
    )


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


def fit_drift(a: np.ndarray, b: np.ndarray, max_shift: int) -> Drift | None:
    """The line that block shifts follow, when most blocks agree on one.

    Each block of `DRIFT_BLOCK` frames of `a` gets its best shift in `b`;
    fewer than `need` blocks lining up (BER within `DRIFT_BLOCK_BER`) is no
    line. Robust to blocks that matched something else (a repeated chorus, a
    pregap): the slope is the median of the pairwise slopes (Theil-Sen),
    then refined by least squares over the blocks within 1.5 frames of it.
    """
    return fit_drift_many([(a, b)], max_shift)[0]


def fit_drift_many(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], max_shift: int
) -> list[Drift | None]:
    """`fit_drift` for many pairs at once (see `shifts`).

    Most pairs of different songs are told apart by their first blocks
    (`_first_blocks`); the other blocks are scored only for the pairs still
    in the race.
    """
    first = _first_blocks(pairs, max_shift)
    found: list[Drift | None] = [None] * len(pairs)
    going = first.going()
    rest_shifts, rest_bers = shifts.block_shifts(
        [pairs[first.live[g]] for g in going],
        max_shift,
        DRIFT_BLOCK,
        first.scored[going],
        first.total[going],
    )
    for row, g in enumerate(going.tolist()):
        k, head, count = int(first.live[g]), int(first.scored[g]), int(first.total[g])
        block_shift = np.concatenate(
            [first.shifts[g, :head], rest_shifts[row, : count - head]]
        ).astype(float)
        block_ber = np.concatenate(
            [first.bers[g, :head], rest_bers[row, : count - head]]
        )
        found[k] = _drift_line(block_shift, block_ber, int(first.need[g]))
    return found


def may_line_up(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], max_shift: int
) -> list[bool]:
    """Per pair, whether enough of its blocks line up with b at some shift
    for the pair to be one recording, straight or drifting: False when too
    many of a's first blocks (`_first_blocks`) match nothing within
    `max_shift` (BER above `DRIFT_BLOCK_BER` at every shift).

    The verifier's screen for pairs without shift hints (two different songs
    that a profile search proposed): it costs a little more than a drift fit
    turning the pair down and spares the straight shift search. Such a
    pair's straight BER over its head is at least 0.17 (six blocks of
    fourteen above 0.42), no sure match; only a pair half of whose head is
    nearly identical and the other half unrelated could still have been
    asked about. Heads too short for blocks are never screened out.
    """
    first = _first_blocks(pairs, max_shift)
    verdict = np.ones(len(pairs), dtype=bool)
    verdict[first.live] = False
    verdict[first.live[first.going()]] = True
    return verdict.tolist()


@dataclass
class _FirstBlocks:
    """The best shifts of the first blocks of the pairs long enough for a
    drift fit (`live`): as many blocks as could alone leave too few blocks
    to line up (`scored`, of `total`; `need` must)."""

    live: np.ndarray
    total: np.ndarray
    need: np.ndarray
    scored: np.ndarray
    shifts: np.ndarray
    bers: np.ndarray

    def going(self) -> np.ndarray:
        """Positions in `live` of the pairs these blocks do not rule out."""
        bad = (self.bers > DRIFT_BLOCK_BER).sum(axis=1)  # unscored blocks count 1
        bad -= self.bers.shape[1] - self.scored
        return np.flatnonzero(self.total - bad >= self.need)


def _first_blocks(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], max_shift: int
) -> _FirstBlocks:
    counts = np.array(
        [len(range(0, len(a) - DRIFT_BLOCK + 1, DRIFT_BLOCK)) for a, _ in pairs],
        dtype=np.int64,
    )
    # Fewer good blocks than this can never give enough blocks on one line.
    need = np.maximum(5, np.ceil(0.6 * counts).astype(np.int64))
    live = np.flatnonzero(need <= counts)
    total = counts[live]
    scored = total - need[live] + 1
    found, bers = shifts.block_shifts(
        [pairs[k] for k in live], max_shift, DRIFT_BLOCK, np.zeros_like(scored), scored
    )
    return _FirstBlocks(live, total, need[live], scored, found, bers)


def _drift_line(
    block_shift: np.ndarray, block_ber: np.ndarray, need: int
) -> Drift | None:
    """The drift line of blocks' best shifts (one per block, in order)."""
    good = block_ber <= DRIFT_BLOCK_BER
    # Too few good blocks at any point: a block-by-block search stops there.
    done = np.arange(1, len(good) + 1)
    if (np.cumsum(good) + len(good) - done < need).any() or good.sum() < 5:
        return None
    centres = np.arange(len(good)) * DRIFT_BLOCK + DRIFT_BLOCK / 2
    t, s = centres[good], block_shift[good]
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
