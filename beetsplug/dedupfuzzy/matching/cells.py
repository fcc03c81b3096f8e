"""The nearest-profile search by cells, for libraries too large for the exact
one (`nearest`).

k-means cuts the profiles into cells of about `CELL_SIZE` tracks, each
cell's tracks in length order; each track compares itself with the tracks
of its `probes` nearest cells that lie within its length window, nearest
cells first, so the nearest found so far bound what farther cells can add.
The cost grows with the library, not its square, whatever the profiles
look like: cells follow the profiles (flat ones get as many cells, as
full; a dense clump is cut again).
"""

from __future__ import annotations

import numpy as np

from .blas import one_blas_thread

CELL_SIZE = 1000
PROBES = 40
# Tracks looking in one cell at once; (track, cell) visits planned at once.
QUERY_BLOCK = 512
VISITS = 4_000_000
# k-means: training tracks per cell, rounds; a cell this many times fuller
# than the others is cut again.
TRAIN = 40
ROUNDS = 10
OVERFULL = 3


class Cells:
    """Built tracks grouped in cells (k-means of their profiles), each
    cell's tracks in length order. Each track looks for its nearest in the
    `probes` cells whose centres lie nearest its profile, so a track costs
    about probes x CELL_SIZE x (its length window's share of the library)
    distances, whatever the library's size or its profiles' spread (cells
    follow the profiles: a library of flat profiles gets as many cells, as
    full, as any other).
    """

    def __init__(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        vectors: np.ndarray,
        probes: int,
    ) -> None:
        n = len(vectors)
        self.probe_count = probes
        self._built = vectors  # in build order (not copied)
        self.centres = _kmeans(vectors, max(1, round(n / CELL_SIZE)))
        self.centre_norms = (self.centres**2).sum(axis=1)
        # Each track's own cell; the cells it looks in are found by each
        # search of it (`nearest`): a search in parts holds only its part's.
        own = self._nearest_cells(vectors, 1)[:, 0]
        self.order = np.lexsort((lengths, own))
        self.bounds = np.searchsorted(own[self.order], np.arange(len(self.centres) + 1))
        self.ids = ids[self.order]
        self.lengths = lengths[self.order]
        self.vectors = vectors[self.order]
        self.norms = (self.vectors**2).sum(axis=1)
        # One sorted key per track, (cell, length) in one number, so that a
        # query finds its length window in all its cells at once: cell c's
        # keys lie in [c * stride, c * stride + stride - 2].
        self._low = float(self.lengths.min()) if n else 0.0
        self._stride = (float(self.lengths.max()) - self._low + 2.0) if n else 2.0
        cell_of = own[self.order].astype(np.float64)
        self._keys = cell_of * self._stride + (self.lengths - self._low)

    def _nearest_cells(
        self,
        vectors: np.ndarray,
        count: int | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each profile's `count` (`probe_count` unless told) nearest cells,
        nearest first (of the profiles `rows` of `vectors` when given)."""
        probes = min(count or self.probe_count, len(self.centres))
        n = len(vectors) if rows is None else len(rows)
        found = np.empty((n, probes), np.int32)
        for start in range(0, n, 8192):
            block = (
                vectors[start : start + 8192]
                if rows is None
                else vectors[rows[start : start + 8192]]
            )
            d = self.centre_norms[None, :] - 2.0 * (block @ self.centres.T)
            if probes == 1:
                found[start : start + len(block), 0] = d.argmin(axis=1)
                continue
            if probes < d.shape[1]:
                near = np.argpartition(d, probes - 1, axis=1)[:, :probes]
            else:
                near = np.broadcast_to(np.arange(probes), d.shape)
            order = np.argsort(np.take_along_axis(d, near, axis=1), axis=1)
            found[start : start + len(block)] = np.take_along_axis(near, order, axis=1)
        return found

    def window(self, q: np.ndarray, length: float, reach: float) -> np.ndarray:
        """Slots of the tracks in a profile's cells within `reach` of
        `length`, cell by cell (nearest cell first), each in length order."""
        probes = self._nearest_cells(q[None, :])[0].astype(np.float64)
        # The window's ends within a cell's band of keys.
        low = min(max(length - reach - self._low, -0.5), self._stride - 1.5)
        high = min(max(length + reach - self._low, -0.5), self._stride - 1.5)
        starts = np.searchsorted(self._keys, probes * self._stride + low, "left")
        stops = np.searchsorted(self._keys, probes * self._stride + high, "right")
        counts = np.maximum(stops - starts, 0)
        before = np.cumsum(counts) - counts
        return np.repeat(starts - before, counts) + np.arange(int(counts.sum()))

    def nearest(
        self,
        tracks: np.ndarray,
        lengths: np.ndarray,
        reach: np.ndarray,
        limit: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest of `tracks` (build order) in their cells, within
        their length windows and within the radius: per track, squared
        distances and slots, nearest first (inf and -1 where fewer). `limit`
        is the squared radius less each track's own norm.

        Most tracks have no profile within the radius but their copies', so
        those within it are picked out of each product at once; only a row
        holding more than k (flat profiles) is partly sorted.
        """
        n = len(self._built)
        slot_of = np.empty(n, np.int32)
        slot_of[self.order] = np.arange(n, dtype=np.int32)
        found = _Nearest(n, k)
        scan = (slot_of, lengths, reach, found)
        cells_of = self._nearest_cells(self._built, rows=tracks)
        probes = cells_of.shape[1]
        with one_blas_thread():
            # Nearest cells first: the k nearest found so far bound what the
            # farther cells can add, so few of their rows need sorting.
            first = 0
            for stop in (1, 3, 7, probes):
                if first >= min(stop, probes):
                    break
                stop = min(stop, probes)
                # A few hundred thousand tracks at a time: every (track,
                # cell) visit of a million tracks planned at once would
                # hold a gigabyte.
                step = max(1, VISITS // (stop - first))
                for at in range(0, len(tracks), step):
                    some = tracks[at : at + step]
                    self._scan(
                        np.repeat(some, stop - first),
                        cells_of[at : at + step, first:stop].ravel(),
                        limit,
                        *scan,
                    )
                limit = np.minimum(limit, found.best()[0][:, -1])
                first = stop
        d2, slots = found.best()
        return d2[tracks] + self.norms[slot_of[tracks], None], slots[tracks]

    def _scan(
        self,
        track: np.ndarray,
        cell: np.ndarray,
        limit: np.ndarray,
        slot_of: np.ndarray,
        lengths: np.ndarray,
        reach: np.ndarray,
        found: _Nearest,
    ) -> None:
        """Tracks `track` against the tracks of cells `cell`, one cell at a
        time, its visitors in length order `QUERY_BLOCK` at a time."""
        k = found.k
        visit = np.lexsort((lengths[track], cell))
        track, cell = track[visit], cell[visit]
        firsts = np.searchsorted(cell, np.arange(len(self.centres) + 1))
        for c in np.flatnonzero(np.diff(firsts)).tolist():
            lo, hi = int(self.bounds[c]), int(self.bounds[c + 1])
            seg = self.lengths[lo:hi]
            for start in range(int(firsts[c]), int(firsts[c + 1]), QUERY_BLOCK):
                rows = track[start : min(int(firsts[c + 1]), start + QUERY_BLOCK)]
                starts = lo + np.searchsorted(seg, lengths[rows] - reach[rows], "left")
                stops = lo + np.searchsorted(seg, lengths[rows] + reach[rows], "right")
                a, b = int(starts.min()), int(stops.max())
                if b <= a:
                    continue
                # Distances less the row's own norm (it does not change
                # which are nearest): |c|^2 - 2 v.c.
                d2 = self._built[rows] @ self.vectors[a:b].T
                d2 *= -2.0
                d2 += self.norms[a:b]
                # Most rows have nothing within their limit.
                hit = np.flatnonzero(d2.min(axis=1) <= limit[rows])
                if len(hit) == 0:
                    continue
                rows, starts, stops, d2 = rows[hit], starts[hit], stops[hit], d2[hit]
                r, col = np.nonzero(d2 <= limit[rows][:, None])
                dist = d2[r, col]
                col += a
                ok = (col >= starts[r]) & (col < stops[r]) & (col != slot_of[rows[r]])
                r, col, dist = r[ok], col[ok], dist[ok]
                crowded = np.bincount(r, minlength=len(rows)) > k
                if crowded.any():
                    keep = ~crowded[r]
                    r, col, dist = r[keep], col[keep], dist[keep]
                    more = np.flatnonzero(crowded)
                    sub = d2[more]
                    cols = np.arange(a, b)[None, :]
                    sub[
                        (cols < starts[more, None])
                        | (cols >= stops[more, None])
                        | (cols == slot_of[rows[more], None])
                    ] = np.inf
                    near = np.argpartition(sub, k - 1, axis=1)[:, :k]
                    r = np.concatenate([r, np.repeat(more, k)])
                    col = np.concatenate([col, near.ravel() + a])
                    dist = np.concatenate(
                        [dist, np.take_along_axis(sub, near, axis=1).ravel()]
                    )
                found.add(rows[r], col, dist)


class _Nearest:
    """Candidates (track, slot, distance) gathered from many products, cut
    down to each track's k nearest now and then to bound their memory."""

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0

    def add(self, track: np.ndarray, slot: np.ndarray, dist: np.ndarray) -> None:
        self.parts.append(
            (track.astype(np.int32), slot.astype(np.int32), dist.astype(np.float32))
        )
        self.size += len(track)
        if self.size > 4 * self.k * self.n + 1_000_000:
            self.parts = [self._cut()]
            self.size = len(self.parts[0][0])

    def _cut(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        track, slot, dist = (np.concatenate(p) for p in zip(*self.parts, strict=True))
        order = np.lexsort((slot, dist, track))
        track, slot, dist = track[order], slot[order], dist[order]
        first = np.r_[True, track[1:] != track[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(track)), 0))
        keep = np.arange(len(track)) - start < self.k
        return track[keep], slot[keep], dist[keep]

    def best(self) -> tuple[np.ndarray, np.ndarray]:
        d2 = np.full((self.n, self.k), np.inf, np.float32)
        slots = np.full((self.n, self.k), -1, np.int32)
        if self.parts:
            self.parts = [self._cut()]
            self.size = len(self.parts[0][0])
            track, slot, dist = self.parts[0]
            first = np.r_[True, track[1:] != track[:-1]]
            start = np.maximum.accumulate(np.where(first, np.arange(len(track)), 0))
            rank = np.arange(len(track)) - start
            d2[track, rank] = dist
            slots[track, rank] = slot
        return d2, slots


def _kmeans(vectors: np.ndarray, count: int, split: bool = True) -> np.ndarray:
    """About `count` centres of the profiles (Lloyd's rounds on a sample; the
    same profiles always give the same centres). A cell holding more than
    `OVERFULL` times its share (a dense clump, such as the flat profiles of
    noise-like tracks amid music) is cut again on its own."""
    rng = np.random.default_rng(0)
    n = len(vectors)
    sample = vectors[np.sort(rng.choice(n, min(n, TRAIN * count), replace=False))]
    centres = sample[rng.choice(len(sample), count, replace=False)].copy()
    for _ in range(ROUNDS):
        closest = _closest(sample, centres)
        sizes = np.bincount(closest, minlength=count)
        sums = np.stack(
            [np.bincount(closest, sample[:, j], count) for j in range(sample.shape[1])],
            axis=1,
        )
        empty = sizes == 0
        centres = (sums / np.maximum(sizes, 1)[:, None]).astype(np.float32)
        # An empty cell starts again from a random training profile.
        centres[empty] = sample[rng.choice(len(sample), int(empty.sum()))]
    if not split:
        return centres
    closest = _closest(sample, centres)
    sizes = np.bincount(closest, minlength=count)
    share = len(sample) / count
    parts = [centres]
    for c in np.flatnonzero(sizes > OVERFULL * share).tolist():
        inside = sample[closest == c]
        cut = _kmeans(inside, round(len(inside) / share), split=False)
        centres[c] = cut[0]
        parts.append(cut[1:])
    return np.vstack(parts)


def _closest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (centres**2).sum(axis=1)[None, :] - 2.0 * (vectors @ centres.T)
    return d.argmin(axis=1)
