"""Nearest profiles among tracks of fitting length: the one search both
profile keys use (bit profiles, `candidates`; repetition profiles,
`repetition`).

Each track proposes its k nearest profiles (Euclidean) within a radius,
among the tracks whose length lies within `reach(length)` of its own. The
top k are kept directly, block by block, so the cost is rows x window
whatever the profiles look like. Tracks can be added and forgotten after
the search is built (an import adds its items one by one).

With a `twin` distance, profiles closer than it to each other count as one
(two copies of one recording, whose profiles are all but identical): when a
track's nearest profile has such a twin, the track also proposes the nearest
one beyond them, so one recording's copies cannot take every place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

# Rows compared at once in batch mode, and the most cells of one product.
BLOCK = 1024
MAX_CELLS = 8_000_000
# Profiles a query looks at beyond those it wants and skips, for twins.
TWIN_POOL = 8

Reach = Callable[[float | np.ndarray], float | np.ndarray]


class NearestProfiles:
    """Profiles of tracks in length order, searchable one by one or all at once.

    ``profiles`` rows holding a NaN (no profile) are left out: one NaN column
    would be every row's argmin.
    ``reach`` must grow with the length no faster than the length itself, so
    the windows of tracks in length order move forward.
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
    ) -> None:
        self.reach = reach
        self.radius = radius
        self.neighbours = neighbours
        self.twin = twin
        has = ~np.isnan(profiles).any(axis=1) if len(profiles) else np.zeros(0, bool)
        lens = np.asarray(lengths, np.float64)[has]
        order = np.argsort(lens, kind="stable")
        self._lengths = lens[order]
        self._ids = np.asarray(ids, np.int64)[has][order]
        self._vectors = np.ascontiguousarray(profiles[has][order], np.float32)
        self._norms = (self._vectors**2).sum(axis=1)
        self._added: dict[int, tuple[np.ndarray, float]] = {}

    def add(self, track_id: int, length: float, profile: np.ndarray | None) -> None:
        self._added.pop(track_id, None)
        if profile is not None:
            self._added[track_id] = (profile.astype(np.float32), length)

    def discard(self, track_id: int) -> None:
        self._added.pop(track_id, None)

    def query(
        self, profile: np.ndarray | None, length: float, skip: Iterable[int] = ()
    ) -> set[int]:
        """Ids of one track's nearest profiles (within the radius).

        A query sees only its own nearest (a batch also gets the pairs where
        it is someone else's nearest), so it takes twice as many.
        """
        if profile is None:
            return set()
        q = profile.astype(np.float32)
        reach = self.reach(length)
        lo = int(np.searchsorted(self._lengths, length - reach, "left"))
        hi = int(np.searchsorted(self._lengths, length + reach, "right"))
        ids = self._ids[lo:hi]
        d2 = self._norms[lo:hi] - 2.0 * (self._vectors[lo:hi] @ q) + float(q @ q)
        extra = [
            (tid, float(((p - q) ** 2).sum()))
            for tid, (p, other) in self._added.items()
            if abs(other - length) <= reach
        ]
        if extra:
            ids = np.concatenate([ids, np.array([t for t, _ in extra], np.int64)])
            d2 = np.concatenate([d2, np.array([d for _, d in extra], np.float32)])
        skip = set(skip)
        wanted = 2 * self.neighbours
        # The nearest few plus as many as may be skipped (and a few twins),
        # then those left out: no pass over the window for them.
        k = min(wanted + len(skip) + (TWIN_POOL if self.twin else 0), len(d2))
        if k == 0:
            return set()
        top = np.argpartition(d2, k - 1)[:k]
        top = top[np.argsort(d2[top], kind="stable")]
        near = [
            j
            for j in top.tolist()
            if d2[j] <= self.radius**2 and int(ids[j]) not in skip
        ]
        if self.twin:
            window = hi - lo

            def vector(j: int) -> np.ndarray:
                if j < window:
                    return self._vectors[lo + j]
                return self._added[int(ids[j])][0]

            taken: list[int] = []
            for j in near:
                v = vector(j)
                if all(((v - vector(t)) ** 2).sum() >= self.twin**2 for t in taken):
                    taken.append(j)
            near = taken
        return {int(ids[j]) for j in near[:wanted]}

    def pairs(self) -> set[tuple[int, int]]:
        """Each built track's nearest profiles (batch mode), as id pairs (a < b).

        Tracks in length order are taken `BLOCK` at a time against the
        window of lengths the block can match. One product gives the
        distances (up to each row's own norm, which does not change its
        order): rows are [v, 1], columns [-2v, |v|^2].
        """
        n = len(self._ids)
        if n < 2:
            return set()
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
            stop = min(stop, start + max(1, MAX_CELLS // max(1, hi - lo)))
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
                self._keep(found, ids, rows[near] + start, nearest[near] + lo)
                if first is None:
                    first = np.flatnonzero(near), nearest[near]
            if self.twin and first is not None and len(first[0]):
                r, beyond, dist = self._beyond_twins(
                    d2[first[0]], first[1] + lo, lo, hi
                )
                r = first[0][r]
                ok = dist <= limit[r]
                self._keep(found, ids, r[ok] + start, beyond[ok] + lo)
            start = stop
        return found

    @staticmethod
    def _keep(
        found: set[tuple[int, int]], ids: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> None:
        pairs = zip(ids[a].tolist(), ids[b].tolist(), strict=True)
        found.update((i, j) if i < j else (j, i) for i, j in pairs)

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
