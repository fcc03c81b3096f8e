"""Fingerprint frames read from the library DB on demand, decoded once.

A run verifies pairs spread over the whole library; keeping every decoded
fingerprint in memory would cost gigabytes at a million items, so frames
are read in batches (`prefetch`) and the least recently used are dropped.
Fingerprints this run already decoded (a `FrameFile`) are read from there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
from beets.library import Library

from ..fingerprinting.refresh import frames_of_fingerprint
from .catalog import load_texts
from .fields import FINGERPRINT
from .framefile import FrameFile

CAPACITY = 30_000


class FrameSource:
    """item id -> raw frames (None when missing or unreadable).

    With a `limit`, frames may be cut to that many (from a `FrameFile`):
    enough for a reader that only aligns heads (a verifying worker).
    """

    def __init__(
        self,
        lib: Library | None,
        capacity: int = CAPACITY,
        decoded: FrameFile | None = None,
        limit: int | None = None,
    ) -> None:
        self.lib = lib
        self.capacity = capacity
        self.decoded = decoded
        self.limit = limit
        self._cache: OrderedDict[int, np.ndarray | None] = OrderedDict()
        # Fingerprints known without reading the DB (just computed).
        self.given: dict[int, str] = {}

    def prefetch(self, ids: Iterable[int]) -> None:
        """Read and decode the fingerprints of these items in one go."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._cache]
        if self.decoded is not None and missing:
            found = self.decoded.read(missing, self.limit)
            for i, frames in found.items():
                self._put(i, frames)
            missing = [i for i in missing if i not in found]
        texts = {i: self.given[i] for i in missing if i in self.given}
        rest = [i for i in missing if i not in texts]
        if rest and self.lib is not None:
            texts.update(load_texts(self.lib, rest, FINGERPRINT))
        for i in missing:
            self._put(i, frames_of_fingerprint(texts[i]) if i in texts else None)

    def __call__(self, item_id: int) -> np.ndarray | None:
        if item_id not in self._cache:
            self.prefetch([item_id])
        self._cache.move_to_end(item_id)
        return self._cache[item_id]

    def put(self, item_id: int, frames: np.ndarray | None) -> None:
        self._put(item_id, frames)

    def forget(self, item_id: int) -> None:
        self._cache.pop(item_id, None)
        self.given.pop(item_id, None)

    def _put(self, item_id: int, frames: np.ndarray | None) -> None:
        self._cache[item_id] = frames
        self._cache.move_to_end(item_id)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
