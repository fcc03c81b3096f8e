"""The one candidate search: which tracks may be copies of which.

Comparing every pair of tracks is out of the question (a 100,000-track
library has five billion pairs), so two cheap signals propose pairs, which
the verifier then checks on their frames:

- **Shared sketch keys** (see `blockindex`, `sharedkeys`): copies keep many frames
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import beside
from .blockindex import Sketch, SketchTable
from .nearest import NearestProfiles
from .postings import Postings
from .repetition import repetition_search
from .sharedkeys import NO_SHIFT, Hints, shared_keys

# Postings sorted for the shared-key search at once, at most: a million
# tracks' 48 million are sorted in parts of about this many.
KEY_PART = 8_000_000
# Euclidean distance between 32-dim profiles. Measured on the test corpus:
# copies of one recording stay below ~0.45, other songs lie above ~0.75.
PROFILE_RADIUS = 0.55
NEIGHBOURS = 2
# Parts of the repetition search by cells, shared between two processes
# (`beside`): the last one's cost is what they may finish apart.
SPEED_PARTS = 16


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs of track ids (a < b), with shift hints where known."""

    pairs: list[tuple[int, int]]
    hints: Mapping[tuple[int, int], list[int]]


class CandidateIndex:
    """Sketch keys and bit profiles of many tracks, searchable both ways.

    The sketch table is read in place, not copied: it must not change while
    the index is in use.
    """

    def __init__(
        self,
        ids: Sequence[int],
        lengths: Sequence[float],
        table: SketchTable,
        tolerance: float,
    ) -> None:
        self.tolerance = tolerance
        # Everything by table row; the rows with keys are the indexed tracks.
        self._row_ids = np.asarray(ids, dtype=np.int64)
        keep = np.flatnonzero(table.counts > 0)
        self.ids = self._row_ids[keep]
        self.lengths = np.asarray(lengths, dtype=np.float64)[keep]
        self._slot = dict(zip(self.ids.tolist(), keep.tolist(), strict=True))
        self._postings = Postings(table)
        self._profiles = table.profiles
        self._has_profile = ~np.isnan(self._profiles[:, 0])
        self._near = NearestProfiles(
            self.ids,
            self.lengths,
            _rows(table.profiles, keep),
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
        """Before one query at a time (an import): sort the postings and
        build the profile searches' cells where the library is large
        (`query_many` and `pairs` take out what they need)."""
        self._postings.all()
        self._near.prepare_queries()
        self._speed.prepare_queries()

    # Query mode.

    def query(
        self, s: Sketch, length: float, exclude: Iterable[int] = ()
    ) -> dict[int, list[int]]:
        """The candidates of one track: id -> shift hints (maybe none)."""
        return self._query(s, length, exclude, self._postings.all())

    def query_many(
        self, queries: Sequence[tuple[Sketch, float, Iterable[int]]]
    ) -> list[dict[int, list[int]]]:
        """`query` of several tracks (sketch, length, ids to leave out) at once."""
        wanted = [q[0].keys for q in queries if not q[0].empty]
        if not wanted:
            return [{} for _ in queries]
        postings = self._postings.of_keys(np.concatenate(wanted))
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
        # A track gone from the library is found no more; one added again
        # (a new version, or its id reused) is found by what was added.
        skip = set(exclude) | (self._gone - self._added.keys())
        stale = self._gone & self._added.keys()
        shared = self._shared_with(s, postings)
        near = self._near.query(s.profile, length, skip, stale)
        near |= self._speed.query(s.repetition, length, skip, stale)
        found: dict[int, list[int]] = {}
        for tid, (count, hints) in shared.items():
            if tid in skip:
                continue
            if count < 2 and not (
                tid in near or _within(s.profile, self._profile_of(tid))
            ):
                continue  # one shared key alone happens by chance
            found[tid] = hints
        for tid in near:
            found.setdefault(tid, [])
        return found

    def _shared_with(
        self, s: Sketch, postings: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> dict[int, tuple[int, list[int]]]:
        """The tracks sharing keys with one sketch: id -> (keys shared, shift
        hints, commonest first), by the batch search's own rule
        (`shared_keys`) applied to the postings of the sketch's keys (the
        library's, the added tracks', its own)."""
        keys, owner, positions = postings
        lo = np.searchsorted(keys, s.keys, side="left")
        hi = np.searchsorted(keys, s.keys, side="right")
        counts = hi - lo
        at = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(
            int(counts.sum())
        )
        if self._gone:  # their keys in the table are an old version's
            gone = np.array([self._slot[t] for t in self._gone], np.int64)
            at = at[~np.isin(owner[at], gone)]
        rows = len(self._row_ids)
        extra: dict[int, int] = {}  # added tracks: rows after the library's
        added: list[tuple[int, int, int]] = []
        for key in s.keys.tolist():
            for tid, other in self._added_keys.get(key, ()):
                row = extra.setdefault(tid, rows + len(extra))
                added.append((key, row, other))
        query = rows + len(extra)  # the sketch itself: the last row
        more = np.array(added, np.int64).reshape(-1, 3)
        all_keys = np.concatenate([keys[at], more[:, 0], s.keys]).astype(np.uint32)
        all_rows = np.concatenate(
            [owner[at], more[:, 1], np.full(len(s.keys), query)]
        ).astype(np.int64)
        all_pos = np.concatenate([positions[at], more[:, 2], s.positions])
        order = np.argsort(all_keys, kind="stable")
        pairs = shared_keys(
            [(all_keys[order], all_rows[order], all_pos[order])], query + 1
        )
        mine = np.flatnonzero(pairs.second == query)
        others = pairs.first[mine]
        built = others < rows
        ids = np.empty(len(others), np.int64)
        ids[built] = self._row_ids[others[built]]
        ids[~built] = np.array(list(extra), np.int64)[others[~built] - rows]
        # Shifts there are the sketch's position less the other's: turned
        # round, as a query's hints are (the other's less the sketch's).
        return {
            tid: (count, [-h for h in hints if h != NO_SHIFT])
            for tid, count, hints in zip(
                ids.tolist(),
                pairs.counts[mine].tolist(),
                pairs.shifts[mine].tolist(),
                strict=True,
            )
        }

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
        # searched in a forked process meanwhile, which this one helps once
        # done with the rest: two cores, not one.
        speed = self._speed
        parts = speed.parts(SPEED_PARTS)
        with beside.shared(
            len(parts), lambda k: speed.pairs(parts[k]), fork=speed.by_cells()
        ) as speed_pairs:
            shared = shared_keys(self._postings.parts(KEY_PART), len(self._row_ids))
            near = self._near.pairs()
            near = near.union(*speed_pairs.results())
        # One shared key alone happens by chance in a large library: such a
        # pair is kept (with its shifts) only when its profiles lie close too.
        keep = shared.counts >= 2
        single = np.flatnonzero(~keep)
        a, b = shared.first[single], shared.second[single]
        keep[single] = self._rows_close(a, b) | _among(
            self._row_ids[a], self._row_ids[b], near
        )
        del a, b
        first = self._row_ids[shared.first[keep]]
        second = self._row_ids[shared.second[keep]]
        shifts = shared.shifts[keep]
        del shared, keep, single
        # Pairs smallest id first (their shifts then measured the other way).
        swap = first > second
        first, second = np.where(swap, second, first), np.where(swap, first, second)
        shifts = np.where(swap[:, None] & (shifts != NO_SHIFT), -shifts, shifts).astype(
            np.int16
        )
        pairs = near | set(zip(first.tolist(), second.tolist(), strict=True))
        return Candidates(sorted(pairs), Hints(first, second, shifts))

    def _rows_close(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether the profiles of rows a[i] and b[i] lie within the radius
        (False where one is missing), a chunk at a time."""
        close = np.zeros(len(a), bool)
        for start in range(0, len(a), 1 << 18):
            pa = self._profiles[a[start : start + (1 << 18)]]
            pb = self._profiles[b[start : start + (1 << 18)]]
            close[start : start + len(pa)] = _close(pa, pb)
        return close


def _rows(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The rows `keep` of `array`: the array itself (no copy) when they are
    all of them."""
    return array if len(keep) == len(array) else array[keep]


def _among(
    first: np.ndarray, second: np.ndarray, pairs: set[tuple[int, int]]
) -> np.ndarray:
    """Whether each id pair (first[i], second[i]), either way round, is one
    of `pairs` (smallest id first)."""
    if not len(first) or not pairs:
        return np.zeros(len(first), bool)
    listed = np.array(list(pairs), np.int64)
    span = int(max(listed.max(), first.max(), second.max())) + 1
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    return np.isin(lo * span + hi, listed[:, 0] * span + listed[:, 1])


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The one rule for a pair's profiles (two profiles, or rows of them):
    within the radius; False where one is missing (NaN)."""
    return ((a - b) ** 2).sum(axis=-1) <= PROFILE_RADIUS * PROFILE_RADIUS


def _within(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """`_close` for one pair of a query (False when one is missing)."""
    return a is not None and b is not None and bool(_close(a, b))
