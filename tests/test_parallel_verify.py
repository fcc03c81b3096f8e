"""Verifying candidate pairs in worker processes gives what one process gives."""

from __future__ import annotations

import numpy as np
import pytest
from test_matching import degrade, song_frames

from beetsplug.dedupfuzzy.matching import batch, blockindex, codec, similarity
from beetsplug.dedupfuzzy.matching.matcher import Track, Verifier
from beetsplug.dedupfuzzy.settings import MatchSettings
from beetsplug.dedupfuzzy.store.frames import FrameSource


class CountingFrames(FrameSource):
    """Frames from fingerprint texts, remembering which items were read."""

    def __init__(self, texts: dict[int, str]) -> None:
        super().__init__(None)
        self.given = texts
        self.read: set[int] = set()

    def prefetch(self, ids) -> None:
        ids = list(ids)
        self.read.update(ids)
        super().prefetch(ids)


def library() -> tuple[dict[int, str], dict[int, float]]:
    """12 songs with a copy each (one shifted by a pregap), 12 loners."""
    texts: dict[int, str] = {}
    lengths: dict[int, float] = {}
    for k in range(12):
        master = song_frames(100 + k)
        copy = degrade(master, 0.04, 200 + k)
        if k % 3 == 0:
            copy = np.concatenate([np.full(20, 0x3333, np.uint32), copy])
        loner = song_frames(300 + k)
        for item_id, frames in ((k, master), (100 + k, copy), (200 + k, loner)):
            texts[item_id] = codec.encode(frames)
            lengths[item_id] = 75.0
    return texts, lengths


def verify(workers: int, monkeypatch) -> tuple[list, dict, set[int]]:
    texts, lengths = library()
    frames = CountingFrames(texts)
    tracks = {}
    for item_id, text in texts.items():
        decoded = codec.decode(text)
        sketch = blockindex.sketch(decoded, similarity.is_informative(decoded))
        tracks[item_id] = Track(
            item_id, b"/m/%d" % item_id, lengths[item_id], sketch=sketch
        )
    verifier = Verifier(
        tracks, frames, MatchSettings(), distinct=lambda a, b: {a, b} == {3, 103}
    )
    ids = sorted(texts)
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    monkeypatch.setattr(batch, "PARALLEL_PAIRS", 0)
    monkeypatch.setattr(batch, "VERIFY_CHUNK", 150)
    monkeypatch.setattr(batch, "ALIGN_CHUNK", 40)

    def open_frames() -> FrameSource:
        own = FrameSource(None)
        own.given = texts
        return own

    found = batch.verify_in_chunks(pairs, {}, verifier, frames, workers, open_frames)
    return sorted(found, key=lambda m: (m.a, m.b)), verifier.computed, frames.read


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_verify_pairs_as_one_process_does(workers, monkeypatch):
    alone, computed_alone, _ = verify(1, monkeypatch)
    together, computed, read = verify(workers, monkeypatch)
    assert together == alone
    assert computed == computed_alone
    # Every song found its copy, except the pair a human called distinct.
    assert {(m.a, m.b) for m in together} == {(k, 100 + k) for k in range(12)} - {
        (3, 103)
    }
    # The workers aligned the pairs: this process read only the frames of
    # pairs that aligned well (the copies), never a loner's.
    assert not read & set(range(200, 212))
