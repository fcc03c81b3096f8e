"""Fingerprints decoded once per run, kept in a temporary file.

A first run decodes every fingerprint to sketch it, then the candidates'
fingerprints again: in the workers to align them, here to decide the pairs
that aligned. Decoding (base64 and Chromaprint's compression) is a quarter
of that work. So the sketching workers hand back the frames they decoded and
this file keeps them: a later read is one `pread`, without the DB or a
decode, and a reader that aligns heads only reads the head.

The file lies next to the library DB (a system temp folder is often held in
memory, and a million two-minute fingerprints take 3.9 GB) and is unlinked
from the start, so nothing is left behind however the run ends. Workers
forked after the frames were written read the same file; sketching workers
forked after `share` write to it themselves (`write`), and the parent only
notes where their frames went (`record`).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import nullcontext

import numpy as np

_FRAME = np.dtype("<u4")
# Reads and writes at an offset, shared by forked workers without a lock:
# where the system has none (Windows), nothing is kept and every frame is
# read from the DB, as before.
_POSITIONAL = hasattr(os, "pread") and hasattr(os, "pwrite")


class FrameFile:
    """item id -> its fingerprint's frames."""

    def __init__(self, directory: str | None = None) -> None:
        try:
            self._file = tempfile.TemporaryFile(prefix="dedupfuzzy-", dir=directory)
        except OSError:  # a read-only folder: the system's temp folder then
            self._file = tempfile.TemporaryFile(prefix="dedupfuzzy-")
        self._full = not _POSITIONAL
        # Held around finding the end and writing there, once processes
        # forked after `share` write too.
        self._lock = None
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._index: tuple[np.ndarray, ...] | None = None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FrameFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def share(self) -> None:
        """Let processes forked from now on `write` to the file too (only
        where the system can fork: `matching.workers.available`)."""
        if self._lock is None:
            self._lock = multiprocessing.get_context("fork").Lock()

    def write(self, frames: np.ndarray) -> int | None:
        """Write frames at the end of the file (from this process or a forked
        one); return where they start, or None when they could not be kept.
        Once a write fails (a full disk), nothing more is written."""
        if self._full:
            return None
        data = np.ascontiguousarray(frames, _FRAME).tobytes()
        fd = self._file.fileno()
        with self._lock or nullcontext():
            start = os.fstat(fd).st_size
            try:
                written = os.pwrite(fd, data, start)
            except OSError:  # a full disk: the rest is read from the DB
                written = -1
        if written != len(data):
            self._full = True
            return None
        return start

    def record(self, ids: Sequence[int], start: int | None, counts: np.ndarray) -> None:
        """Note where `write` put these items' frames (`counts` each, end to
        end from `start`); None: they were not kept, and nothing more is."""
        if start is None:
            self._full = True
            return
        if self._full:
            return
        offsets = start + 4 * np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._chunks.append(
            (
                np.asarray(ids, np.int64),
                offsets.astype(np.int64),
                np.asarray(counts, np.int64),
            )
        )
        self._index = None

    def read(
        self, ids: Iterable[int], limit: int | None = None
    ) -> dict[int, np.ndarray]:
        """The frames of those items held here (at most `limit` each)."""
        wanted = np.fromiter(ids, np.int64)
        if not self._chunks or not len(wanted):
            return {}
        keys, offsets, counts = self._lookup()
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        held = keys[at] == wanted
        sizes = (
            counts[at[held]] if limit is None else np.minimum(counts[at[held]], limit)
        )
        fd = self._file.fileno()
        return {
            item: np.frombuffer(os.pread(fd, 4 * n, offset), _FRAME).astype(np.uint32)
            for item, offset, n in zip(
                wanted[held].tolist(),
                offsets[at[held]].tolist(),
                sizes.tolist(),
                strict=True,
            )
        }

    def _lookup(self) -> tuple[np.ndarray, ...]:
        if self._index is None:
            columns = [np.concatenate(c) for c in zip(*self._chunks, strict=True)]
            order = np.argsort(columns[0], kind="stable")
            self._index = tuple(c[order] for c in columns)
        return self._index
