"""The one candidate search: which tracks may be copies of which.

Comparing every pair of tracks is out of the question (a 100,000-track
library has five billion pairs), so two cheap signals propose pairs, which
the verifier then checks on their frames:

- **Shared sketch keys** (see `blockindex`): copies keep many frames
  bit-identical, so their bottom-k sketches share keys; the positions of the
  shared keys say at which time offset to verify. A pair sharing a single
  key is proposed only when its profiles lie close too: one key in common
  happens by chance in a large library.
- **Nearest bit profiles**: a heavy remaster keeps almost no frame
  bit-identical, but its bit profile stays near its source's. Each track
  proposes its `NEIGHBOURS` nearest profiles among the tracks of agreeing
  length (within `PROFILE_RADIUS`); the top k are kept directly, block by
  block, so the cost is bounded whatever the profiles look like.

One `CandidateIndex` serves both shapes of work: `pairs()` finds every
candidate pair of the library at once (a first run), `query()` the
candidates of one track (an import, or a warm run's changed items).
Tracks can be added and removed after the index is built (an import adds
its items one by one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .blockindex import Sketch

# Keys shared by more tracks than this are generic (quiet passages, common
# chroma patterns) and carry no identity: they are ignored.
MAX_POSTINGS = 24
MAX_HINTS = 3
# Euclidean distance between 32-dim profiles. Measured on the test corpus:
# copies of one recording stay below ~0.45, other songs lie above ~0.75.
PROFILE_RADIUS = 0.55
NEIGHBOURS = 2
# Rows of profiles compared at once, and the most cells of one product.
BLOCK = 256
MAX_CELLS = 4_000_000
# Shifts are packed into pair codes; larger ones are beyond any max_offset.
_SHIFT_BITS = 12
_SHIFT_SPAN = 1 << (_SHIFT_BITS - 1)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs of track ids (a < b), with shift hints where known."""

    pairs: list[tuple[int, int]]
    hints: dict[tuple[int, int], list[int]]


class CandidateIndex:
    """Sketch keys and bit profiles of many tracks, searchable both ways."""

    def __init__(
        self,
        ids: Sequence[int],
        lengths: Sequence[float],
        sketches: Sequence[Sketch | None],
        tolerance: float,
    ) -> None:
        self.tolerance = tolerance
        keep = [k for k, s in enumerate(sketches) if s is not None and not s.empty]
        self.ids = np.array([ids[k] for k in keep], dtype=np.int64)
        self.lengths = np.array([lengths[k] for k in keep], dtype=np.float64)
        self._slot = {int(i): n for n, i in enumerate(self.ids.tolist())}
        n = len(keep)
        chosen = [sketches[k] for k in keep]
        sizes = np.fromiter((len(s.keys) for s in chosen), np.int64, n)
        owner = np.repeat(np.arange(n, dtype=np.int32), sizes)
        keys = (
            np.concatenate([s.keys for s in chosen]).astype(np.uint32)
            if n
            else np.zeros(0, np.uint32)
        )
        pos = (
            np.concatenate([s.positions for s in chosen]).astype(np.int32)
            if n
            else np.zeros(0, np.int32)
        )
        order = np.argsort(keys, kind="stable")
        self._keys, self._owner, self._pos = keys[order], owner[order], pos[order]
        profiles = np.full((n, 32), np.nan, np.float32)
        for k, s in enumerate(chosen):
            if s.profile is not None:
                profiles[k] = s.profile
        self._profiles = profiles
        self._has_profile = ~np.isnan(profiles[:, 0])
        self._by_length = np.argsort(self.lengths, kind="stable")
        self._sorted_lengths = self.lengths[self._by_length]
        self._gone: set[int] = set()
        # Tracks added after building: few, searched directly.
        self._added: dict[int, tuple[Sketch, float]] = {}
        self._added_keys: dict[int, list[tuple[int, int]]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self.ids) - len(self._gone) + len(self._added)

    # Growing and shrinking.

    def add(self, track_id: int, length: float, s: Sketch | None) -> None:
        """Index one more track (searched by later queries)."""
        self.discard(track_id)
        if s is None or s.empty:
            return
        self._added[track_id] = (s, length)
        for key, pos in zip(s.keys.tolist(), s.positions.tolist(), strict=True):
            self._added_keys[key].append((track_id, pos))

    def discard(self, track_id: int) -> None:
        """Forget a track (it left the library, or changed)."""
        if track_id in self._slot:
            self._gone.add(track_id)
        old = self._added.pop(track_id, None)
        if old is not None:
            for key in old[0].keys.tolist():
                postings = self._added_keys.get(key)
                if postings:
                    postings[:] = [p for p in postings if p[0] != track_id]

    # Query mode.

    def query(
        self, s: Sketch, length: float, exclude: Iterable[int] = ()
    ) -> dict[int, list[int]]:
        """The candidates of one track: id -> shift hints (maybe none)."""
        if s.empty:
            return {}
        skip = set(exclude) | self._gone
        shifts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        if len(self._keys):
            lo = np.searchsorted(self._keys, s.keys, side="left")
            hi = np.searchsorted(self._keys, s.keys, side="right")
            for start, stop, pos in zip(
                lo.tolist(), hi.tolist(), s.positions.tolist(), strict=True
            ):
                if start == stop or stop - start > MAX_POSTINGS:
                    continue
                owners = self.ids[self._owner[start:stop]].tolist()
                for tid, other in zip(
                    owners, self._pos[start:stop].tolist(), strict=True
                ):
                    shifts[tid][other - pos] += 1
        for key, pos in zip(s.keys.tolist(), s.positions.tolist(), strict=True):
            postings = self._added_keys.get(key, ())
            if len(postings) <= MAX_POSTINGS:
                for tid, other in postings:
                    shifts[tid][other - pos] += 1
        near = self._nearest(s.profile, length, skip)
        found: dict[int, list[int]] = {}
        for tid, counts in shifts.items():
            if tid in skip:
                continue
            if sum(counts.values()) < 2 and not (
                tid in near or _within(s.profile, self._profile_of(tid))
            ):
                continue  # one shared key alone happens by chance
            found[tid] = sorted(counts, key=counts.__getitem__, reverse=True)[
                :MAX_HINTS
            ]
        for tid in near:
            found.setdefault(tid, [])
        return found

    def _profile_of(self, tid: int) -> np.ndarray | None:
        if tid in self._added:
            return self._added[tid][0].profile
        slot = self._slot.get(tid)
        if slot is None or not self._has_profile[slot]:
            return None
        return self._profiles[slot]

    def _nearest(
        self, profile: np.ndarray | None, length: float, skip: set[int]
    ) -> set[int]:
        """Ids of the nearest profiles (within the radius) of agreeing length."""
        if profile is None:
            return set()
        q = profile.astype(np.float32)
        lo = int(np.searchsorted(self._sorted_lengths, length - self.tolerance, "left"))
        hi = int(
            np.searchsorted(self._sorted_lengths, length + self.tolerance, "right")
        )
        slots = self._by_length[lo:hi]
        ids = self.ids[slots]
        d2 = ((self._profiles[slots] - q) ** 2).sum(axis=1)
        d2[np.isnan(d2)] = np.inf
        extra = [
            (tid, float(((s.profile - q) ** 2).sum()))
            for tid, (s, other) in self._added.items()
            if s.profile is not None and abs(other - length) <= self.tolerance
        ]
        if extra:
            ids = np.concatenate([ids, np.array([t for t, _ in extra], np.int64)])
            d2 = np.concatenate([d2, np.array([d for _, d in extra], np.float32)])
        if skip:
            d2[np.isin(ids, np.fromiter(skip, np.int64, len(skip)))] = np.inf
        k = min(NEIGHBOURS, len(d2))
        if k == 0:
            return set()
        top = np.argpartition(d2, k - 1)[:k]
        radius2 = PROFILE_RADIUS * PROFILE_RADIUS
        return {int(ids[j]) for j in top.tolist() if d2[j] <= radius2}

    # Batch mode.

    def pairs(self) -> Candidates:
        """Every candidate pair of the indexed tracks (those built with)."""
        hints, shared = self._key_pairs()
        near = self._profile_pairs()
        pairs = set(near)
        for pair, count in shared.items():
            if count >= 2 or pair in near or self._close(*pair):
                pairs.add(pair)
        return Candidates(sorted(pairs), hints)

    def _close(self, a: int, b: int) -> bool:
        return _within(self._profile_of(a), self._profile_of(b))

    def _key_pairs(
        self,
    ) -> tuple[dict[tuple[int, int], list[int]], dict[tuple[int, int], int]]:
        """Pairs sharing keys: their shift hints and how many keys they share."""
        keys, owner, pos = self._keys, self._owner.astype(np.int64), self._pos
        if len(keys) == 0:
            return {}, {}
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        counts = np.diff(np.append(starts, len(keys)))
        df = np.repeat(counts, counts)
        useful = (df >= 2) & (df <= MAX_POSTINGS)
        keys, owner, pos = keys[useful], owner[useful], pos[useful].astype(np.int64)
        codes = []
        n = max(1, len(self.ids))
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
            shift = np.clip(
                np.where(swap, -shift, shift), 1 - _SHIFT_SPAN, _SHIFT_SPAN - 1
            )
            codes.append(((a * n + b) << _SHIFT_BITS) | (shift + _SHIFT_SPAN))
        if not codes:
            return {}, {}
        combo, count = np.unique(np.concatenate(codes), return_counts=True)
        pair_code = combo >> _SHIFT_BITS
        shift = (combo & ((1 << _SHIFT_BITS) - 1)) - _SHIFT_SPAN
        # Per pair: commonest shifts first.
        order = np.lexsort((-count, pair_code))
        pair_code, shift, count = pair_code[order], shift[order], count[order]
        first = np.r_[True, pair_code[1:] != pair_code[:-1]]
        run_start = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
        rank = np.arange(len(first)) - run_start
        total = np.add.reduceat(count, np.flatnonzero(first))
        ids = self.ids
        hints: dict[tuple[int, int], list[int]] = {}
        shared: dict[tuple[int, int], int] = {}
        top = rank < MAX_HINTS
        for code, s in zip(pair_code[top].tolist(), shift[top].tolist(), strict=True):
            pair = (int(ids[code // n]), int(ids[code % n]))
            hints.setdefault(pair, []).append(s)
        for code, c in zip(pair_code[first].tolist(), total.tolist(), strict=True):
            shared[(int(ids[code // n]), int(ids[code % n]))] = c
        return hints, shared

    def _profile_pairs(self) -> set[tuple[int, int]]:
        """Each track's `NEIGHBOURS` nearest profiles of agreeing length.

        Tracks sorted by length are taken `BLOCK` at a time against the
        window of lengths the block can match; the k nearest of each row are
        kept with a partial sort, so the work is rows x window whatever the
        distances.
        """
        slots = self._by_length[self._has_profile[self._by_length]]
        if len(slots) < 2:
            return set()
        vectors = self._profiles[slots]
        lens = self.lengths[slots]
        ids = self.ids[slots]
        norms = (vectors * vectors).sum(axis=1)
        radius2 = np.float32(PROFILE_RADIUS * PROFILE_RADIUS)
        tol = self.tolerance
        found: set[tuple[int, int]] = set()
        n = len(slots)
        start = 0
        while start < n:
            stop = min(n, start + BLOCK)
            lo = int(np.searchsorted(lens, lens[start] - tol, "left"))
            hi = int(np.searchsorted(lens, lens[stop - 1] + tol, "right"))
            stop = min(stop, start + max(1, MAX_CELLS // max(1, hi - lo)))
            hi = int(np.searchsorted(lens, lens[stop - 1] + tol, "right"))
            d2 = (
                norms[start:stop, None]
                + norms[None, lo:hi]
                - 2.0 * (vectors[start:stop] @ vectors[lo:hi].T)
            )
            rows = np.arange(start, stop)
            d2[rows - start, rows - lo] = np.inf
            far = np.abs(lens[start:stop, None] - lens[None, lo:hi]) > tol
            d2[far] = np.inf
            k = min(NEIGHBOURS, hi - lo)
            top = np.argpartition(d2, k - 1, axis=1)[:, :k]
            best = np.take_along_axis(d2, top, axis=1)
            r, c = np.nonzero(best <= radius2)
            for i, j in zip(
                ids[r + start].tolist(), ids[top[r, c] + lo].tolist(), strict=True
            ):
                found.add((i, j) if i < j else (j, i))
            start = stop
        return found


def _within(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two profiles lie within the radius (False when one is missing)."""
    if a is None or b is None:
        return False
    return float(((a - b) ** 2).sum()) <= PROFILE_RADIUS * PROFILE_RADIUS
