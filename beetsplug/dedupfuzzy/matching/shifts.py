"""The shift searches of many pairs at once: the verifier's inner loops.

A first run aligns about one candidate pair per track, nearly all of them
two different songs, and each alignment is a handful of small array
operations. Done pair by pair, numpy's cost per call outweighs the
arithmetic; so the pairs of a chunk are stacked, each padded to the
chunk's longest, and every step is one operation over all of them. What
the padding adds is taken out exactly (masks, or prefix sums of what a
padding frame would add), so each pair's numbers are those it gets alone.

Conventions: frame ``a[i]`` pairs with ``b[i + shift]``; b is stored after
`max_shift` zero frames, so shift s of frame i reads ``padded[i + s +
max_shift]``. Frames are uint32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Pairs stacked per array operation: large enough to spread numpy's cost
# per call, small enough to stay in cache (64 pairs of two-minute heads
# at every shift: about 3 million frames).
BATCH = 64

Pair = tuple[np.ndarray, np.ndarray]


def _stack(arrays: Sequence[np.ndarray], width: int, before: int = 0) -> np.ndarray:
    """Rows of `width` zeros, each holding one array after `before` zeros."""
    out = np.zeros((len(arrays), width), dtype=np.uint32)
    for k, x in enumerate(arrays):
        take = min(len(x), width - before)
        out[k, before : before + take] = x[:take]
    return out


def _windows(
    padded: np.ndarray, rows: int, row_step: int, columns: int, column_step: int
) -> np.ndarray:
    """View (pairs x rows x columns): row r, column j reads padded[:, r *
    row_step + j * column_step]."""
    s = padded.strides[1]
    return np.lib.stride_tricks.as_strided(
        padded,
        shape=(padded.shape[0], rows, columns),
        strides=(padded.strides[0], row_step * s, column_step * s),
        writeable=False,
    )


def _packed(padded: np.ndarray, step: int) -> np.ndarray:
    """Rows of 64-bit words: word q holds frame q (low half) and frame q +
    `step` (high half) of the row."""
    lo = padded[:, :-step].astype(np.uint64)
    return lo | (padded[:, step:].astype(np.uint64) << np.uint64(32))


def _pairs_of(rows: np.ndarray) -> np.ndarray:
    """Rows (of an even length) as words holding frames 2u and 2u + 1."""
    return _packed(rows, 1)[:, ::2]


def _ones(rows: np.ndarray) -> np.ndarray:
    """Per row, the prefix sums of its frames' set bits (a leading 0)."""
    out = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.bitwise_count(rows), axis=1, out=out[:, 1:])
    return out


def coarse_shifts(
    pairs: Sequence[Pair], max_shift: int, keep: int, step: int, min_frames: int
) -> np.ndarray:
    """Each pair's `keep` most promising shifts (pairs x keep), ranked on
    every `step`-th frame of a: the BER at every shift within `max_shift`
    (1 where fewer than `min_frames` frames overlap), lowest first, the
    smaller shift first among equals."""
    out = np.zeros((len(pairs), keep), dtype=np.int64)
    for start in range(0, len(pairs), BATCH):
        part = pairs[start : start + BATCH]
        found = _coarse(part, max_shift, keep, step, min_frames)
        out[start : start + len(part)] = found
    return out


def _coarse(
    pairs: Sequence[Pair], max_shift: int, keep: int, step: int, min_frames: int
) -> np.ndarray:
    width = 2 * max_shift + 1
    sampled = [a[::step] for a, _ in pairs]
    counts = np.array([len(x) for x in sampled])
    lengths_b = np.array([len(b) for _, b in pairs])
    half = (int(counts.max()) + 1) // 2
    columns = 2 * half
    a = _stack(sampled, columns)
    padded = _stack([b for _, b in pairs], width + step * (columns + 1), max_shift)
    # Two columns per 64-bit word (half the operations): column 2u and
    # 2u + 1 of a, and the frames of b they pair with at each shift.
    pb = _packed(padded, step)
    windows = _windows(pb, width, 1, half, 2 * step)
    errors = np.bitwise_count(windows ^ _pairs_of(a)[:, None, :])
    # Columns past a pair's own frames of a hold zeros: no errors there.
    # Words wholly past them are masked; a word half past them (an odd
    # count) has its second column's errors, b's set bits, taken out.
    errors *= (2 * np.arange(half)[None, :] < counts[:, None])[:, None, :]
    total = errors.sum(axis=2, dtype=np.int64)
    odd = np.flatnonzero(counts % 2)
    if len(odd):
        after = padded[
            odd[:, None], np.arange(width)[None, :] + step * counts[odd, None]
        ]
        total[odd] -= np.bitwise_count(after)
    # Frames of b before its start or past its end are zeros too: each
    # adds its frame of a's set bits, a prefix and a suffix of the columns.
    shift = np.arange(width)[None, :] - max_shift
    prefix = np.clip(-(shift // step), 0, counts[:, None])
    suffix = np.clip(-((shift - lengths_b[:, None]) // step), 0, counts[:, None])
    ones = _ones(a)
    rows = np.arange(len(pairs))[:, None]
    total -= ones[rows, prefix] + ones[rows, counts[:, None]] - ones[rows, suffix]
    overlap = np.maximum(0, suffix - prefix)
    ber = total / np.maximum(1, 32 * overlap)
    ber[overlap * step < min_frames] = 1.0
    return np.argsort(ber, axis=1, kind="stable")[:, :keep] - max_shift


def score_shifts(
    pairs: Sequence[Pair], shifts: np.ndarray, max_shift: int
) -> tuple[np.ndarray, np.ndarray]:
    """BER and informative overlap of each pair at each of its shifts.

    `shifts` is pairs x k (each within `max_shift`). A frame counts where
    both copies hold it and it is no repeat in both (frames inside a
    constant run in both copies, silence, prove nothing), the first frame
    of an overlap always; fewer than two frames overlapping score BER 1
    over nothing.
    """
    bers = np.ones(shifts.shape)
    overlaps = np.zeros(shifts.shape, dtype=np.int64)
    for start in range(0, len(pairs), BATCH):
        part = pairs[start : start + BATCH]
        stop = start + len(part)
        bers[start:stop], overlaps[start:stop] = _score(
            part, shifts[start:stop], max_shift
        )
    return bers, overlaps


def _score(
    pairs: Sequence[Pair], shifts: np.ndarray, max_shift: int
) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([len(a) for a, _ in pairs])
    lengths_b = np.array([len(b) for _, b in pairs])
    n = int(counts.max())
    a = _stack([x for x, _ in pairs], n)
    padded = _stack([b for _, b in pairs], n + 2 * max_shift + 1, max_shift)
    everywhere = _windows(padded, 2 * max_shift + 1, 1, n, 1)
    rows = np.arange(len(pairs))[:, None]
    windows = everywhere[rows, shifts + max_shift]  # pairs x shifts x frames
    column = np.arange(n)[None, None, :]
    starts = np.maximum(0, -shifts)
    stops = np.minimum(counts[:, None], lengths_b[:, None] - shifts)
    inside = (column >= starts[:, :, None]) & (column < stops[:, :, None])
    moving = np.empty(windows.shape, dtype=bool)
    moving[:, :, 0] = True
    np.not_equal(windows[:, :, 1:], windows[:, :, :-1], out=moving[:, :, 1:])
    moving[:, :, 1:] |= (a[:, 1:] != a[:, :-1])[:, None, :]
    some = np.nonzero(stops > starts)
    moving[some[0], some[1], starts[some]] = True
    moving &= inside
    overlap = moving.sum(axis=2)
    errors = np.bitwise_count(windows ^ a[:, None, :])
    errors *= moving
    total = errors.sum(axis=2, dtype=np.int64)
    ber = np.where(overlap > 0, total / (32.0 * np.maximum(1, overlap)), 1.0)
    short = stops - starts < 2
    ber[short] = 1.0
    overlap[short] = 0
    return ber, overlap


def block_shifts(
    pairs: Sequence[Pair],
    max_shift: int,
    block: int,
    first: np.ndarray,
    stop: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, blocks `first[k]` to `stop[k]` of a: each block's best
    shift in b and that BER (pairs x blocks, blocks past `stop` left at
    shift 0, BER 1). A shift overlapping b on fewer than 80 % of the block
    scores 1; among equal BERs the smaller shift wins."""
    most = int((stop - first).max()) if len(pairs) else 0
    best = np.zeros((len(pairs), max(0, most)), dtype=np.int64)
    bers = np.ones(best.shape)
    if most <= 0:
        return best, bers
    for start in range(0, len(pairs), BATCH):
        end = start + min(BATCH, len(pairs) - start)
        best[start:end], bers[start:end] = _blocks(
            pairs[start:end], max_shift, block, first[start:end], stop[start:end], most
        )
    return best, bers


def _blocks(
    pairs: Sequence[Pair],
    max_shift: int,
    block: int,
    first: np.ndarray,
    stop: np.ndarray,
    most: int,
) -> tuple[np.ndarray, np.ndarray]:
    width = 2 * max_shift + 1
    count = stop - first
    lengths_b = np.array([len(b) for _, b in pairs])
    # Row k: pair k's blocks from its `first` on; b from the same frame on.
    heads = [
        x[f * block : s * block]
        for (x, _), f, s in zip(pairs, first.tolist(), stop.tolist(), strict=True)
    ]
    a = _stack(heads, most * block)
    offset = first * block
    span = most * block + width + block
    padded = np.zeros((len(pairs), span), dtype=np.uint32)
    for k, (_, b) in enumerate(pairs):
        # padded[k, p] holds b[p + offset - max_shift].
        lo = max(0, int(offset[k]) - max_shift)
        hi = min(len(b), int(offset[k]) - max_shift + span)
        if hi > lo:
            at = lo - (int(offset[k]) - max_shift)
            padded[k, at : at + hi - lo] = b[lo:hi]
    # Two frames per 64-bit word (half the operations): frames 2u and 2u + 1
    # of a block, and the two frames of b each shift pairs them with.
    pb = _packed(padded, 1)
    s = pb.strides[1]
    rows = np.lib.stride_tricks.as_strided(
        pb,
        shape=(len(pairs), most, width, block // 2),
        strides=(pb.strides[0], block * s, s, 2 * s),
        writeable=False,
    )
    blocks = _pairs_of(a).reshape(len(pairs), most, 1, block // 2)
    total = np.bitwise_count(rows ^ blocks).sum(axis=3, dtype=np.int64)
    # A padding frame (0) adds its frame of a's set bits: take that out. The
    # frames of a window outside b are a prefix and a suffix of the block.
    lead = (offset[:, None] + np.arange(most)[None, :] * block)[:, :, None] + (
        np.arange(width)[None, None, :]
    )
    prefix = np.clip(max_shift - lead, 0, block)
    suffix = np.clip(max_shift + lengths_b[:, None, None] - lead, 0, block)
    ones = _ones(a.reshape(-1, block)).reshape(len(pairs), most, block + 1)
    total -= np.take_along_axis(ones, prefix, axis=2)
    total -= ones[:, :, -1:] - np.take_along_axis(ones, suffix, axis=2)
    overlap = np.maximum(0, suffix - prefix)
    ber = total / np.maximum(1, 32 * overlap)
    ber[overlap < 0.8 * block] = 1.0
    k = np.argmin(ber, axis=2)
    found = np.take_along_axis(ber, k[:, :, None], axis=2)[:, :, 0]
    # Blocks past a pair's own stop: nothing found.
    beyond = np.arange(most)[None, :] >= count[:, None]
    found[beyond] = 1.0
    shift = np.where(beyond, 0, k - max_shift)
    return shift, found
