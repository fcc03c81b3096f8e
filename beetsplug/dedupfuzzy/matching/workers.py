"""The verifier's costly half on every core: aligning candidate pairs.

On a first run most of the CPU goes to aligning the heads of candidate pairs
(every shift within `max_offset`, and the drift fit of pairs that align
poorly): hundreds of thousands of pairs, each independent of the others. So
`align_heads` hands them to worker processes, a chunk at a time, and puts
the alignments into the parent's verifier, which then decides each pair as
before (lengths, endings, excerpts: the few pairs that aligned). The result
is the same whatever the number of workers: an alignment depends on the
two fingerprints alone.

The workers are forked: they share the parent's tracks (copy-on-write, the
collector frozen so it does not copy them) and read the fingerprints they
need themselves, on a connection of their own (`open_frames`), so neither
the fingerprints nor their decoding pass through the parent.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from .. import heap
from .matcher import Verifier
from .similarity import Alignment

Pair = tuple[int, int, Sequence[int]]


class FrameReader(Protocol):
    """Frames by item id, read a chunk at a time (`store.frames.FrameSource`)."""

    def __call__(self, item_id: int) -> np.ndarray | None: ...

    def prefetch(self, ids: Iterable[int]) -> None: ...


# The verifier the forked workers use (set in the parent before forking).
_verifier: Verifier | None = None
_open_frames: Callable[[], FrameReader] | None = None
# A worker's own frames source.
_frames: FrameReader | None = None


def _start() -> None:
    """In a new worker: the parent's verifier with frames read by the worker."""
    global _frames
    assert _verifier is not None and _open_frames is not None
    _frames = _open_frames()
    _verifier.frames_of = _frames
    _verifier.endings.frames_of = _frames


def _heads(pairs: list[Pair]) -> list[Alignment | None]:
    assert _verifier is not None and _frames is not None
    _frames.prefetch(i for a, b, _ in pairs for i in (a, b))
    found = _verifier.align_heads(pairs)
    _verifier.clear_heads()
    return found


def available() -> bool:
    """Whether this system can fork workers (not Windows: then one process
    does the work, with the same results: verdicts, sketches)."""
    return "fork" in multiprocessing.get_all_start_methods()


class HeadAligner:
    """Aligns pairs in `workers` forked processes (see `pool`)."""

    def __init__(self, executor: ProcessPoolExecutor, verifier: Verifier) -> None:
        self.executor = executor
        self.verifier = verifier

    def submit(self, pairs: Sequence[Pair]) -> Future:
        return self.executor.submit(_heads, list(pairs))

    def collect(self, pairs: Sequence[Pair], future: Future) -> list[Pair]:
        """Store the alignments in the verifier; return the pairs whose
        verdict needs more than their alignment (those that aligned well).
        The others, most of them, are turned down at once."""
        found = future.result()
        aligned = []
        down = []
        for pair, head in zip(pairs, found, strict=True):
            if self.verifier.head_decides(head):
                down.append((pair[0], pair[1]))
            else:
                self.verifier.put_head(pair[0], pair[1], head)
                aligned.append(pair)
        self.verifier.turn_down(down)
        return aligned


@contextmanager
def pool(
    verifier: Verifier, workers: int, open_frames: Callable[[], FrameReader]
) -> Iterator[HeadAligner]:
    """Worker processes that align pairs for this verifier.

    `open_frames` runs in each worker: the frames source it reads from
    (a connection of its own to the library DB).
    """
    global _verifier, _open_frames
    _verifier, _open_frames = verifier, open_frames
    # The workers share the parent's objects without copying them: no
    # collection writes to their pages.
    try:
        with (
            heap.kept_for_the_run(),
            ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start,
            ) as executor,
        ):
            yield HeadAligner(executor, verifier)
    finally:
        _verifier = _open_frames = None


def pending(verifier: Verifier, pairs: Sequence[Pair]) -> list[Pair]:
    """The pairs whose verdict needs an alignment not known yet."""
    return [(a, b, hints) for a, b, hints in pairs if verifier.needs_head(a, b)]
