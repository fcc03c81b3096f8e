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
- **Nearest repetition profiles** (see `repetition`): a vinyl or tape rip
  off speed keeps neither bit-identical frames nor its bit profile, but its
  self-similarity; each track proposes its nearest among the tracks whose
  length fits a speed error.

One `CandidateIndex` serves both shapes of work: `pairs()` finds every
candidate pair of the library at once (a first run), `query()` the
candidates of one track (an import, or a warm run's changed items).
Tracks can be added and removed after the index is built (an import adds
its items one by one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .beside import beside
from .blockindex import Sketch, SketchTable
from .nearest import NearestProfiles
from .repetition import repetition_search

# Keys shared by more tracks than this are generic (quiet passages, common
# chroma patterns) and carry no identity: they are ignored.
MAX_POSTINGS = 24
MAX_HINTS = 3
# Postings sorted for the shared-key search at once, at most: a million
# tracks' 48 million are sorted in parts of about this many.
KEY_PART = 8_000_000
# Euclidean distance between 32-dim profiles. Measured on the test corpus:
# copies of one recording stay below ~0.45, other songs lie above ~0.75.
PROFILE_RADIUS = 0.55
NEIGHBOURS = 2
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
        table: SketchTable,
        tolerance: float,
    ) -> None:
        self.tolerance = tolerance
        counts = np.maximum(table.counts, 0)
        keep = np.flatnonzero(counts > 0)
        self.ids = np.asarray(ids, dtype=np.int64)[keep]
        self.lengths = np.asarray(lengths, dtype=np.float64)[keep]
        self._slot = dict(zip(self.ids.tolist(), range(len(keep)), strict=True))
        # Postings (key, owner slot, position) in row order, sorted by key on
        # first need: a few queries (a run after k items changed) need no
        # sort at all, and the batch search sorts them part by part.
        valid = np.arange(table.keys.shape[1])[None, :] < counts[:, None]
        owner = np.repeat(np.arange(len(keep), dtype=np.int32), counts[keep])
        self._unsorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (
            table.keys[valid],
            owner,
            table.positions[valid],
        )
        del valid
        self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._profiles = _rows(table.profiles, keep)
        self._has_profile = ~np.isnan(self._profiles[:, 0])
        self._near = NearestProfiles(
            self.ids,
            self.lengths,
            self._profiles,
            lambda length: tolerance,
            PROFILE_RADIUS,
            NEIGHBOURS,
        )
        self._speed = repetition_search(
            self.ids, self.lengths, _rows(table.repetitions, keep), tolerance
        )
        self._gone: set[int] = set()
        # Tracks added after building: few, searched directly.
        self._added: dict[int, tuple[Sketch, float]] = {}
        self._added_keys: dict[int, list[tuple[int, int]]] = defaultdict(list)

    @classmethod
    def of(
        cls,
        ids: Sequence[int],
        lengths: Sequence[float],
        sketches: Sequence[Sketch | None],
        tolerance: float,
    ) -> CandidateIndex:
        return cls(ids, lengths, SketchTable.of(sketches), tolerance)

    def __len__(self) -> int:
        return len(self.ids) - len(self._gone) + len(self._added)

    # Growing and shrinking.

    def add(self, track_id: int, length: float, s: Sketch | None) -> None:
        """Index one more track (searched by later queries)."""
        self.discard(track_id)
        if s is None or s.empty:
            return
        self._added[track_id] = (s, length)
        self._near.add(track_id, length, s.profile)
        self._speed.add(track_id, length, s.repetition)
        for key, pos in zip(s.keys.tolist(), s.positions.tolist(), strict=True):
            self._added_keys[key].append((track_id, pos))

    def discard(self, track_id: int) -> None:
        """Forget a track (it left the library, or changed)."""
        if track_id in self._slot:
            self._gone.add(track_id)
        self._near.discard(track_id)
        self._speed.discard(track_id)
        old = self._added.pop(track_id, None)
        if old is not None:
            for key in old[0].keys.tolist():
                postings = self._added_keys.get(key)
                if postings:
                    postings[:] = [p for p in postings if p[0] != track_id]

    def prepare_queries(self) -> None:
        """Sort the postings now: one query at a time (an import) needs them
        sorted; `query_many` and `pairs` sort them when they must."""
        self._postings()

    def _postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every posting sorted by key (sorted once, when first needed; the
        unsorted ones are then dropped)."""
        if self._sorted is None:
            assert self._unsorted is not None
            keys, owner, pos = self._unsorted
            order = np.argsort(keys, kind="stable")
            self._sorted = keys[order], owner[order], pos[order]
            self._unsorted = None
        return self._sorted

    def _postings_of(
        self, keys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The postings of these keys alone, sorted by key as `_postings`
        sorts them, found in one pass over the unsorted postings: far cheaper
        than sorting them all when the keys are few."""
        if self._unsorted is None:
            return self._postings()
        every, owner, pos = self._unsorted
        wanted = np.unique(np.asarray(keys, np.uint32))
        # A coarse filter on the top 20 bits, then the exact test on the rest.
        marks = np.zeros(1 << 20, bool)
        marks[wanted >> np.uint32(12)] = True
        found = np.flatnonzero(marks[every >> np.uint32(12)])
        found = found[np.isin(every[found], wanted)]
        order = found[np.argsort(every[found], kind="stable")]
        return every[order], owner[order], pos[order]

    # Query mode.

    def query(
        self, s: Sketch, length: float, exclude: Iterable[int] = ()
    ) -> dict[int, list[int]]:
        """The candidates of one track: id -> shift hints (maybe none)."""
        return self._query(s, length, exclude, self._postings())

    def query_many(
        self, queries: Sequence[tuple[Sketch, float, Iterable[int]]]
    ) -> list[dict[int, list[int]]]:
        """`query` of several tracks (sketch, length, ids to leave out) at once."""
        wanted = [q[0].keys for q in queries if not q[0].empty]
        if not wanted:
            return [{} for _ in queries]
        postings = self._postings_of(np.concatenate(wanted))
        return [self._query(s, length, skip, postings) for s, length, skip in queries]

    def _query(
        self,
        s: Sketch,
        length: float,
        exclude: Iterable[int],
        postings: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> dict[int, list[int]]:
        if s.empty:
            return {}
        skip = set(exclude) | self._gone
        shifts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        keys, owner, positions = postings
        if len(keys):
            lo = np.searchsorted(keys, s.keys, side="left")
            hi = np.searchsorted(keys, s.keys, side="right")
            for start, stop, pos in zip(
                lo.tolist(), hi.tolist(), s.positions.tolist(), strict=True
            ):
                if start == stop or stop - start > MAX_POSTINGS:
                    continue
                owners = self.ids[owner[start:stop]].tolist()
                for tid, other in zip(
                    owners, positions[start:stop].tolist(), strict=True
                ):
                    shifts[tid][other - pos] += 1
        for key, pos in zip(s.keys.tolist(), s.positions.tolist(), strict=True):
            added = self._added_keys.get(key, ())
            if len(added) <= MAX_POSTINGS:
                for tid, other in added:
                    shifts[tid][other - pos] += 1
        near = self._near.query(s.profile, length, skip)
        near |= self._speed.query(s.repetition, length, skip)
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

    # Batch mode.

    def pairs(self) -> Candidates:
        """Every candidate pair of the indexed tracks (those built with)."""
        # Searched by cells (a large library), the repetition profiles are
        # searched in a forked process meanwhile: two cores, not one.
        with beside(self._speed.pairs, fork=self._speed.by_cells()) as speed:
            hints, shared = self._key_pairs()
            near = self._near.pairs()
            near |= speed.get()
        pairs = set(near)
        for pair, count in shared.items():
            if count >= 2 or pair in near or self._close(*pair):
                pairs.add(pair)
        return Candidates(sorted(pairs), hints)

    def _parts(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The postings sorted by key, in parts of about `KEY_PART` (split by
        key, so a key's postings all lie in one part): sorting a million
        tracks' postings at once would hold them twice, with an index of
        eight bytes each."""
        if self._unsorted is None:
            yield self._postings()
            return
        every, owner, pos = self._unsorted
        parts = max(1, -(-len(every) // KEY_PART))
        part_of = (every % np.uint32(parts)).astype(np.uint16) if parts > 1 else None
        for part in range(parts):
            if part_of is None:
                keys, own, at = every, owner, pos
            else:
                chosen = np.flatnonzero(part_of == part)
                keys, own, at = every[chosen], owner[chosen], pos[chosen]
                del chosen
            order = np.argsort(keys, kind="stable")
            yield keys[order], own[order], at[order]

    def _close(self, a: int, b: int) -> bool:
        return _within(self._profile_of(a), self._profile_of(b))

    def _key_pairs(
        self,
    ) -> tuple[dict[tuple[int, int], list[int]], dict[tuple[int, int], int]]:
        """Pairs sharing keys: their shift hints and how many keys they share."""
        n = max(1, len(self.ids))
        codes = [
            _shared_key_codes(keys, owner, pos, n) for keys, owner, pos in self._parts()
        ]
        codes = [c for c in codes if len(c)]
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


def _shared_key_codes(
    keys: np.ndarray, owner: np.ndarray, pos: np.ndarray, n: int
) -> np.ndarray:
    """Postings sorted by key to codes of (slot pair, shift), one per key two
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


def _rows(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The rows `keep` of `array`: the array itself (no copy) when they are
    all of them."""
    return array if len(keep) == len(array) else array[keep]


def _within(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two profiles lie within the radius (False when one is missing)."""
    if a is None or b is None:
        return False
    return float(((a - b) ** 2).sum()) <= PROFILE_RADIUS * PROFILE_RADIUS
