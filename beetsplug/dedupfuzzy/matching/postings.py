"""A sketch table's keys as postings, read in place.

Every key of every sketch is a posting: (key, owner row, position). The
table already holds them row by row, so they are not copied: a million
tracks' 48 million postings would take another half gigabyte. Only what a
search asks for is taken out, sorted by key: the postings of a few keys (a
run after k items changed), every posting (an import's queries), or every
posting in parts split by key (the batch search), so that no more than a
part is sorted at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .blockindex import SketchTable

# (keys, owner rows, positions), sorted by key.
Sorted = tuple[np.ndarray, np.ndarray, np.ndarray]

# Keys reduced per pass when splitting them into parts.
_CHUNK = 1 << 22


class Postings:
    """The postings of a sketch table (kept by reference: the table must
    not change while these are in use). A row's slots beyond its count are
    no postings."""

    def __init__(self, table: SketchTable) -> None:
        self._width = table.keys.shape[1]
        self._keys = table.keys.reshape(-1)
        self._positions = table.positions.reshape(-1)
        counts = np.maximum(table.counts, 0)
        self._valid = (np.arange(self._width)[None, :] < counts[:, None]).reshape(-1)
        self._count = int(counts.sum())
        self._all: Sorted | None = None

    def all(self) -> Sorted:
        """Every posting, sorted (once, when first asked for)."""
        if self._all is None:
            self._all = self._take(np.flatnonzero(self._valid))
        return self._all

    def of_keys(self, keys: np.ndarray) -> Sorted:
        """The postings of these keys (or more), found in one pass: far
        cheaper than sorting them all when the keys are few."""
        if self._all is not None:
            return self._all
        every = self._keys
        wanted = np.unique(np.asarray(keys, np.uint32))
        # A coarse filter on the top 20 bits, then the exact test on the rest.
        marks = np.zeros(1 << 20, bool)
        marks[wanted >> np.uint32(12)] = True
        found = np.flatnonzero(marks[every >> np.uint32(12)])
        found = found[self._valid[found] & np.isin(every[found], wanted)]
        return self._take(found)

    def parts(self, size: int) -> Iterator[Sorted]:
        """Every posting, sorted in parts of about `size` split by key (a
        key's postings all lie in one part)."""
        parts = max(1, -(-self._count // size))
        if self._all is not None or parts == 1:
            yield self.all()
            return
        part_of = np.empty(len(self._keys), np.uint8 if parts < 256 else np.uint16)
        for start in range(0, len(self._keys), _CHUNK):
            np.remainder(
                self._keys[start : start + _CHUNK],
                np.uint32(parts),
                out=part_of[start : start + _CHUNK],
                casting="unsafe",
            )
        for part in range(parts):
            yield self._take(np.flatnonzero((part_of == part) & self._valid))

    def _take(self, chosen: np.ndarray) -> Sorted:
        """The postings at these flat places, sorted by key."""
        keys = self._keys[chosen]
        order = np.argsort(keys, kind="stable")
        chosen = chosen[order]
        return (
            keys[order],
            (chosen // self._width).astype(np.int32),
            self._positions[chosen],
        )
