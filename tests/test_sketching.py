"""A first run sketches every fingerprint in worker processes, a chunk at a
time: each worker reads its chunk on a connection of its own and writes the
frames it decodes to the run's frame file itself. What it gives is what
sketching in this process gives: the same sketches, stored as the same
texts, and every readable fingerprint's frames kept."""

from __future__ import annotations

import numpy as np
from beets.library import Item, Library
from test_matching import song_frames

from beetsplug.dedupfuzzy.fingerprinting import sketching
from beetsplug.dedupfuzzy.matching import codec
from beetsplug.dedupfuzzy.store import catalog, fields, rowcache
from beetsplug.dedupfuzzy.store.framefile import FrameFile


def library(path, prints: list[str]) -> Library:
    lib = Library(str(path), str(path.parent))
    for k, text in enumerate(prints):
        lib.add(Item(path=f"/music/{k}.flac".encode(), acoustid_fingerprint=text))
    return lib


def sketched(lib: Library, workers: int, frame_file: FrameFile):
    rows, _ = rowcache.load_all_rows(lib)
    table = sketching.load_sketches(lib, rows, workers, frame_file)
    ids = [r.id for r in rows]
    return ids, table, catalog.load_texts(lib, ids, fields.BLOCKS)


def test_workers_sketch_and_keep_frames_as_this_process_does(tmp_path, monkeypatch):
    frames = [song_frames(40 + k, n=300 + 40 * k) for k in range(23)]
    prints = [codec.encode(f) for f in frames]
    prints[5] = "not a fingerprint"  # unreadable: an empty sketch, no frames
    prints[9] = codec.encode(np.zeros(400, np.uint32))  # silent: empty sketch
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    here = library(tmp_path / "one" / "library.db", prints)
    there = library(tmp_path / "two" / "library.db", prints)
    # Chunks of 4 fingerprints: six jobs for two forked workers.
    monkeypatch.setattr(sketching, "SKETCH_CHUNK", 4)
    with FrameFile(str(tmp_path)) as alone, FrameFile(str(tmp_path)) as forked:
        ids, expected, texts = sketched(here, 1, alone)
        same_ids, got, got_texts = sketched(there, 2, forked)
        kept = forked.read(ids)
        kept_alone = alone.read(ids)
    assert same_ids == ids
    assert got_texts == texts and len(texts) == len(prints)
    for column in ("keys", "positions", "counts"):
        assert np.array_equal(getattr(got, column), getattr(expected, column))
    for column in ("profiles", "repetitions"):
        assert np.array_equal(
            getattr(got, column), getattr(expected, column), equal_nan=True
        )
    assert got.counts[5] == 0 and got.counts[9] == 0 and (got.counts[:5] > 0).all()
    # Every readable fingerprint's frames, whole, whoever wrote them.
    readable = [i for k, i in enumerate(ids) if k != 5]
    assert sorted(kept) == sorted(kept_alone) == sorted(readable)
    for k, item in enumerate(ids):
        if k not in (5, 9):
            assert np.array_equal(kept[item], frames[k])
