"""Nearest profiles among tracks of fitting length: the one search both
profile keys use (bit profiles, `candidates`; repetition profiles,
`repetition`).

Each track proposes its k nearest profiles (Euclidean) within a radius,
among the tracks whose length lies within `reach(length)` of its own. The
top k are kept directly, so the cost does not depend on how many profiles
lie within the radius. Tracks can be added and forgotten after the search
is built (an import adds its items one by one).

Two ways to search, one contract:

- **exact**: tracks in length order, block by block against their length
  window: rows x window distances. The window grows with the library (at
  1,000,000 tracks a 10 s window holds ~60,000), so the cost grows with its
  square; fine up to `EXACT_WORK` distances (realistic lengths: about
  110,000 tracks for the repetition profiles' wider window, 170,000 for the
  bit profiles).
- **by cells**, beyond that: k-means cuts the profiles into cells of about
  `CELL_SIZE` tracks (each cell's tracks in length order), and each track
  compares itself with the tracks of its `probes` nearest cells within its
  length window: about probes x CELL_SIZE x (the window's share of the
  library) distances per track, so the cost grows with the library, not
  its square, whatever the profiles look like (cells follow the profiles:
  flat ones get as many cells, as full). Approximate: a neighbour whose
  cell is not among a track's nearest cells is missed, unless the track is
  among its neighbour's nearest. Copies lie much closer to each other than
  to other songs, so their cells agree (see `bench/bench_nearest.py` for
  what is kept, by distance).

With a `twin` distance, profiles closer than it to each other count as one
(two copies of one recording, whose profiles are all but identical): when a
track's nearest profile has such a twin, the track also proposes the nearest
one beyond them, so one recording's copies cannot take every place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .blas import one_blas_thread
from .cells import PROBES, Cells

# Exact search: rows compared at once, and the most distances of one product.
BLOCK = 1024
MAX_PRODUCT = 8_000_000
# Profiles a query looks at beyond those it wants and skips, for twins.
TWIN_POOL = 8
# Beyond this many distances (each track against its length window) the
# search goes by cells (`cells`), every track looking in its `probes`
# nearest (PROBES unless told).
EXACT_WORK = 2_000_000_000

Reach = Callable[[float | np.ndarray], float | np.ndarray]


class NearestProfiles:
    """Profiles of tracks in length order, searchable one by one or all at once.

    ``profiles`` rows holding a NaN (no profile) are left out: one NaN column
    would be every row's argmin.
    ``reach`` must grow with the length no faster than the length itself, so
    the windows of tracks in length order move forward.
    ``exact`` chooses the search (None: by cells when the exact one would
    compute more than `EXACT_WORK` distances); ``probes`` is how many cells
    a track looks in.
    """

    def __init__(
        self,
        ids: Sequence[int],
        lengths: Sequence[float],
        profiles: np.ndarray,
        reach: Reach,
        radius: float,
        neighbours: int,
        twin: float = 0.0,
        exact: bool | None = None,
        probes: int | None = None,
    ) -> None:
        self.reach = reach
        self.radius = radius
        self.neighbours = neighbours
        self.twin = twin
        has = ~np.isnan(profiles).any(axis=1) if len(profiles) else np.zeros(0, bool)
        lens = np.asarray(lengths, np.float64)
        rows = np.flatnonzero(has)
        # One gather in length order (a million profiles: 0.1 s, not 0.8 s
        # through a filtered copy).
        rows = rows[np.argsort(lens[rows], kind="stable")]
        self._lengths = lens[rows]
        self._ids = np.asarray(ids, np.int64)[rows]
        self._vectors = np.ascontiguousarray(profiles[rows], np.float32)
        self._norms = (self._vectors**2).sum(axis=1)
        self._added: dict[int, tuple[np.ndarray, float]] = {}
        self._exact = exact
        self._probes = probes
        self._cells: Cells | None = None

    def by_cells(self) -> bool:
        """Whether the batch search goes by cells (else it is exact)."""
        if self._exact is None:
            reach = self.reach(self._lengths)
            starts = np.searchsorted(self._lengths, self._lengths - reach, "left")
            stops = np.searchsorted(self._lengths, self._lengths + reach, "right")
            self._exact = int((stops - starts).sum()) <= EXACT_WORK
        return not self._exact

    def _cells_built(self) -> Cells | None:
        """The cells (built on first need, for a batch search or for
        queries), or None for the exact search."""
        if not self.by_cells():
            return None
        if self._cells is None:
            probes = PROBES if self._probes is None else self._probes
            self._cells = Cells(self._ids, self._lengths, self._vectors, probes)
        return self._cells

    def prepare_queries(self) -> None:
        """Before many queries (an import): in a library the batch search
        would search by cells, build the cells, so that each query looks in
        its nearest cells, not the whole length window (at 1,000,000
        tracks the window of a repetition profile holds 115,000)."""
        self._cells_built()

    def add(self, track_id: int, length: float, profile: np.ndarray | None) -> None:
        self._added.pop(track_id, None)
        if profile is not None:
            self._added[track_id] = (profile.astype(np.float32), length)

    def discard(self, track_id: int) -> None:
        self._added.pop(track_id, None)

    def query(
        self,
        profile: np.ndarray | None,
        length: float,
        skip: Iterable[int] = (),
        stale: Iterable[int] = (),
    ) -> set[int]:
        """Ids of one track's nearest profiles (within the radius), but those
        in `skip`; tracks `stale` are found by their added profile only (the
        one built with is an old version's).

        A query sees only its own nearest (a batch also gets the pairs where
        it is someone else's nearest), so it takes twice as many. Where a
        batch built cells, it looks in the cells the batch looked in for it;
        otherwise it scans its length window (building the cells of
        1,000,000 tracks costs as much as thousands of such scans, more
        than an import or a warm run's few changed items need).
        """
        if profile is None:
            return set()
        q = profile.astype(np.float32)
        reach = self.reach(length)
        cells = self._cells
        if cells is not None:
            slots = cells.window(q, length, reach)
            ids, vectors, norms = (
                cells.ids[slots],
                cells.vectors[slots],
                cells.norms[slots],
            )
        else:
            lo = int(np.searchsorted(self._lengths, length - reach, "left"))
            hi = int(np.searchsorted(self._lengths, length + reach, "right"))
            ids, vectors = self._ids[lo:hi], self._vectors[lo:hi]
            norms = self._norms[lo:hi]
        with one_blas_thread():
            d2 = norms - 2.0 * (vectors @ q) + float(q @ q)
        window = len(vectors)
        extra = [
            (tid, p)
            for tid, (p, other) in self._added.items()
            if abs(other - length) <= reach
        ]
        if extra:
            ids = np.concatenate([ids, np.array([t for t, _ in extra], np.int64)])
            d2 = np.concatenate(
                [d2, np.array([((p - q) ** 2).sum() for _, p in extra], np.float32)]
            )
        # Within the radius first: most of the window lies beyond it, and
        # picking the nearest few of the rest costs a pass over them only.
        within = np.flatnonzero(d2 <= self.radius**2)
        skip, stale = set(skip), set(stale)
        if (skip or stale) and len(within):
            built = np.isin(ids[within], np.fromiter(skip | stale, np.int64))
            added = np.isin(ids[within], np.fromiter(skip, np.int64))
            within = within[~np.where(within < window, built, added)]
        wanted = 2 * self.neighbours
        # The nearest few (and a few twins).
        k = min(wanted + (TWIN_POOL if self.twin else 0), len(within))
        if k == 0:
            return set()
        if k < len(within):
            within = within[np.argpartition(d2[within], k - 1)[:k]]
        near = within[np.argsort(d2[within], kind="stable")].tolist()
        if self.twin:

            def vector(j: int) -> np.ndarray:
                return vectors[j] if j < window else extra[j - window][1]

            taken: list[int] = []
            for j in near:
                v = vector(j)
                if all(((v - vector(t)) ** 2).sum() >= self.twin**2 for t in taken):
                    taken.append(j)
            near = taken
        return {int(ids[j]) for j in near[:wanted]}

    def parts(self, count: int) -> list[np.ndarray | None]:
        """The batch search cut into parts whose pairs together are those of
        `pairs()` (each part's through `pairs(part)`): by cells, `count`
        slices of the tracks, each track's nearest independent of the
        others' (the cells built now, before any part is searched); the
        exact search, one part."""
        if len(self._ids) < 2 or self._cells_built() is None:
            return [None]
        return np.array_split(np.arange(len(self._ids)), count)

    def pairs(self, part: np.ndarray | None = None) -> set[tuple[int, int]]:
        """Each built track's nearest profiles (batch mode), as id pairs (a < b);
        with a `part` (of `parts`), those of its tracks only.

        Tracks in length order are taken `BLOCK` at a time against the
        window of lengths the block can match. One product gives the
        distances (up to each row's own norm, which does not change its
        order): rows are [v, 1], columns [-2v, |v|^2].
        """
        n = len(self._ids)
        if n < 2:
            return set()
        cells = self._cells_built()
        if cells is not None:
            return self._pairs_by_cells(cells, np.arange(n) if part is None else part)
        lens, vectors, norms, ids = self._lengths, self._vectors, self._norms, self._ids
        rows_aug = np.hstack([vectors, np.ones((n, 1), np.float32)])
        cols_aug = np.hstack([-2.0 * vectors, norms[:, None]]).astype(np.float32)
        reach = self.reach(lens)
        starts = np.searchsorted(lens, lens - reach, "left")
        stops = np.searchsorted(lens, lens + reach, "right")
        found: set[tuple[int, int]] = set()
        start = 0
        while start < n:
            stop = min(n, start + BLOCK)
            lo, hi = int(starts[start]), int(stops[stop - 1])
            stop = min(stop, start + max(1, MAX_PRODUCT // max(1, hi - lo)))
            hi = int(stops[stop - 1])
            d2 = rows_aug[start:stop] @ cols_aug[lo:hi].T
            rows = np.arange(stop - start)
            d2[rows, rows + start - lo] = np.inf
            # Windows move forward with the rows: only their edges can be
            # too far for some rows of the block.
            left = int(starts[stop - 1]) - lo
            if left:
                edge = np.arange(left)[None, :] < (starts[start:stop] - lo)[:, None]
                d2[:, :left][edge] = np.inf
            right = int(stops[start]) - lo
            if right < hi - lo:
                cols = np.arange(right, hi - lo)[None, :]
                edge = cols >= (stops[start:stop] - lo)[:, None]
                d2[:, right:][edge] = np.inf
            # The k nearest of each row: k passes of argmin, far cheaper than
            # a partial sort of every row.
            limit = self.radius**2 - norms[start:stop]
            first = None
            for _ in range(min(self.neighbours, hi - lo)):
                nearest = d2.argmin(axis=1)
                near = d2[rows, nearest] <= limit
                d2[rows, nearest] = np.inf
                _keep(found, ids[rows[near] + start], ids[nearest[near] + lo])
                if first is None:
                    first = np.flatnonzero(near), nearest[near]
            if self.twin and first is not None and len(first[0]):
                r, beyond, dist = self._beyond_twins(
                    d2[first[0]], first[1] + lo, lo, hi
                )
                r = first[0][r]
                ok = dist <= limit[r]
                _keep(found, ids[r[ok] + start], ids[beyond[ok] + lo])
            start = stop
        return found

    def _beyond_twins(
        self, d2: np.ndarray, nearest: np.ndarray, lo: int, hi: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows (of `d2`, their nearest column already set to inf) whose
        nearest column has a twin, their nearest column beyond its twins and
        its distance (as `d2` holds them).
        """
        vectors = self._vectors
        second = d2.argmin(axis=1)
        gap = ((vectors[nearest] - vectors[second + lo]) ** 2).sum(axis=1)
        rows = np.flatnonzero(np.isfinite(d2[np.arange(len(d2)), second]))
        rows = rows[gap[rows] < self.twin**2]
        if len(rows) == 0:
            return rows, rows, np.zeros(0, np.float32)
        centre = vectors[nearest[rows]]
        to_twin = (
            self._norms[lo:hi][None, :]
            - 2.0 * (centre @ vectors[lo:hi].T)
            + self._norms[nearest[rows]][:, None]
        )
        sub = np.where(to_twin < self.twin**2, np.inf, d2[rows])
        beyond = sub.argmin(axis=1)
        return rows, beyond, sub[np.arange(len(rows)), beyond]

    def _pairs_by_cells(self, cells: Cells, rows: np.ndarray) -> set[tuple[int, int]]:
        """`pairs` from the nearest the tracks `rows` find in their cells: the
        first `neighbours` within the radius, and with a twin distance, the
        nearest beyond the nearest's twins."""
        taken = self.neighbours
        reach = np.broadcast_to(
            np.asarray(self.reach(self._lengths), np.float64), self._lengths.shape
        )
        limit = self.radius**2 - self._norms
        # Two more than taken: enough to step past one twin (the common case).
        d2, slots = cells.nearest(
            rows, self._lengths, reach, limit, taken + (2 if self.twin else 0)
        )
        found: set[tuple[int, int]] = set()
        for m in range(taken):
            near = np.flatnonzero(np.isfinite(d2[:, m]))
            _keep(found, self._ids[rows[near]], cells.ids[slots[near, m]])
        if not self.twin:
            return found
        more = self._beyond_twins_in(cells, rows, d2, slots, found)
        if len(more):
            # Nearest with more twins: look again with a pool as a query's.
            d2, slots = cells.nearest(
                more, self._lengths, reach, limit, taken + TWIN_POOL
            )
            self._beyond_twins_in(cells, more, d2, slots, found)
        return found

    def _beyond_twins_in(
        self,
        cells: Cells,
        rows: np.ndarray,
        d2: np.ndarray,
        slots: np.ndarray,
        found: set[tuple[int, int]],
    ) -> np.ndarray:
        """Pairs of `rows` with the nearest beyond their nearest's twins
        (among the candidates `slots`, nearest first, beyond the taken
        ones), when the next candidate is such a twin; returns the rows
        whose candidates were all twins."""
        taken, twin2 = self.neighbours, self.twin**2
        vectors = cells.vectors
        has = np.flatnonzero(np.isfinite(d2[:, taken]))
        rows, d2, slots = rows[has], d2[has], slots[has]
        nearest = vectors[slots[:, 0]]
        twins = ((vectors[slots[:, taken]] - nearest) ** 2).sum(axis=1) < twin2
        rows, d2, slots, nearest = rows[twins], d2[twins], slots[twins], nearest[twins]
        pool = slots[:, taken:]
        gaps = ((vectors[pool] - nearest[:, None, :]) ** 2).sum(axis=2)
        beyond = (gaps >= twin2) & np.isfinite(d2[:, taken:])
        j = beyond.argmax(axis=1)
        ok = beyond.any(axis=1)
        _keep(found, self._ids[rows[ok]], cells.ids[pool[ok, j[ok]]])
        return rows[~ok & np.isfinite(d2[:, -1])]


def _keep(found: set[tuple[int, int]], a: np.ndarray, b: np.ndarray) -> None:
    """Add id pairs (a[i], b[i]), smaller id first."""
    pairs = zip(a.tolist(), b.tolist(), strict=True)
    found.update((i, j) if i < j else (j, i) for i, j in pairs)
