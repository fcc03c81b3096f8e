"""Pairs of tracks that share sketch keys, and the shifts those keys give.

Copies keep many frames bit-identical, so their sketches share keys, and the
positions of a shared key in both tracks say at which offset to align them.
The batch search finds every pair sharing a key at once, from postings
sorted by key (`postings`), in numpy arrays throughout: a million tracks
give two million such pairs, which as Python dicts took 800 MB. The shifts
of the pairs kept as candidates are handed on as `Hints`, a mapping held in
arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .postings import Sorted

# Keys shared by more tracks than this are generic (quiet passages, common
# chroma patterns) and carry no identity: they are ignored.
MAX_POSTINGS = 24
MAX_HINTS = 3
# Shifts are packed into pair codes; larger ones are beyond any max_offset.
_SHIFT_BITS = 12
_SHIFT_SPAN = 1 << (_SHIFT_BITS - 1)
# Where a pair has fewer than MAX_HINTS shifts.
NO_SHIFT = np.iinfo(np.int16).min


@dataclass(frozen=True)
class SharedKeys:
    """Pairs of rows (a < b) sharing keys, sorted by a, then b: how many
    keys each shares, and its commonest shifts (b's position less a's,
    commonest first; NO_SHIFT where fewer)."""

    first: np.ndarray
    second: np.ndarray
    counts: np.ndarray
    shifts: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


def shared_keys(parts: Iterable[Sorted], rows: int) -> SharedKeys:
    """The pairs sharing keys among postings sorted by key, given in parts
    split by key (`rows`: how many rows the owners count)."""
    n = max(1, rows)
    codes = [_codes(keys, owner, pos, n) for keys, owner, pos in parts]
    codes = [c for c in codes if len(c)]
    if not codes:
        empty = np.zeros(0, np.int64)
        return SharedKeys(
            empty, empty, np.zeros(0, np.int64), np.zeros((0, MAX_HINTS), np.int16)
        )
    combo, count = np.unique(np.concatenate(codes), return_counts=True)
    del codes
    pair_code = combo >> _SHIFT_BITS
    shift = (combo & ((1 << _SHIFT_BITS) - 1)) - _SHIFT_SPAN
    del combo
    # Per pair: commonest shifts first.
    order = np.lexsort((-count, pair_code))
    pair_code, shift, count = pair_code[order], shift[order], count[order]
    del order
    first = np.r_[True, pair_code[1:] != pair_code[:-1]]
    starts = np.flatnonzero(first)
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
    rank = np.arange(len(first)) - run_start
    shifts = np.full((len(starts), MAX_HINTS), NO_SHIFT, np.int16)
    top = rank < MAX_HINTS
    shifts[np.cumsum(first)[top] - 1, rank[top]] = shift[top]
    codes_of_pairs = pair_code[starts]
    return SharedKeys(
        codes_of_pairs // n,
        codes_of_pairs % n,
        np.add.reduceat(count, starts),
        shifts,
    )


def _codes(keys: np.ndarray, owner: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Postings sorted by key to codes of (row pair, shift), one per key two
    tracks share (keys more than `MAX_POSTINGS` tracks hold are left out)."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.append(starts, len(keys))).astype(np.int32)
    df = np.repeat(counts, counts)
    useful = (df >= 2) & (df <= MAX_POSTINGS)
    del df, starts, counts  # most keys are a single track's: filtered first
    keys = keys[useful]
    owner = owner[useful].astype(np.int64)
    pos = pos[useful].astype(np.int64)
    codes = []
    for d in range(1, MAX_POSTINGS):
        if d >= len(keys):
            break
        same = np.flatnonzero(keys[:-d] == keys[d:])
        if len(same) == 0:
            break
        oa, ob = owner[same], owner[same + d]
        shift = pos[same + d] - pos[same]
        swap = oa > ob
        a = np.where(swap, ob, oa)
        b = np.where(swap, oa, ob)
        shift = np.clip(np.where(swap, -shift, shift), 1 - _SHIFT_SPAN, _SHIFT_SPAN - 1)
        codes.append(((a * n + b) << _SHIFT_BITS) | (shift + _SHIFT_SPAN))
    return np.concatenate(codes) if codes else np.zeros(0, np.int64)


class Hints(Mapping[tuple[int, int], list[int]]):
    """Shift hints of id pairs (a < b), held in arrays: pair -> shifts,
    commonest first (b's position less a's)."""

    def __init__(self, first: np.ndarray, second: np.ndarray, shifts: np.ndarray):
        self._span = int(max(first.max(initial=0), second.max(initial=0))) + 1
        codes = first.astype(np.int64) * self._span + second
        order = np.argsort(codes, kind="stable")
        self._codes = codes[order]
        self._shifts = shifts[order]

    def _locate(self, pairs: Sequence[tuple[int, int]]) -> tuple[list[int], list[bool]]:
        """Where each pair's shifts lie, and whether it has any: the one
        lookup of a pair, for one or many."""
        if not pairs or not len(self._codes):
            return [0] * len(pairs), [False] * len(pairs)
        ab = np.array(pairs, np.int64).reshape(-1, 2)
        inside = ((ab >= 0) & (ab < self._span)).all(axis=1)
        codes = ab[:, 0] * self._span + ab[:, 1]
        at = np.minimum(np.searchsorted(self._codes, codes), len(self._codes) - 1)
        return at.tolist(), (inside & (self._codes[at] == codes)).tolist()

    def _listed(self, at: int) -> list[int]:
        return [s for s in self._shifts[at].tolist() if s != NO_SHIFT]

    def __getitem__(self, pair: tuple[int, int]) -> list[int]:
        (at,), (found,) = self._locate([pair])
        if not found:
            raise KeyError(pair)
        return self._listed(at)

    def shifts_of(self, pairs: Sequence[tuple[int, int]]) -> list[Sequence[int]]:
        """`self.get(pair, ())` of many pairs, looked up together."""
        places, found = self._locate(pairs)
        return [
            self._listed(at) if ok else () for at, ok in zip(places, found, strict=True)
        ]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        first, second = np.divmod(self._codes, self._span)
        return iter(zip(first.tolist(), second.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self._codes)


def with_hints(
    pairs: Sequence[tuple[int, int]], hints: Mapping[tuple[int, int], list[int]]
) -> list[tuple[int, int, Sequence[int]]]:
    """Each pair with its shift hints (none where it has none); `Hints`
    look them up together (one at a time cost a lookup in numpy each)."""
    if isinstance(hints, Hints):
        found = hints.shifts_of(pairs)
        return [(a, b, s) for (a, b), s in zip(pairs, found, strict=True)]
    return [(a, b, hints.get((a, b), ())) for a, b in pairs]
