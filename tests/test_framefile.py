"""Fingerprints decoded once per run come back from the frame file as they
went in, cut to a limit on demand, and only for the items it holds."""

from __future__ import annotations

import numpy as np

from beetsplug.dedupfuzzy.store.framefile import FrameFile


def keep(frames: FrameFile, ids: list[int], values: np.ndarray, counts) -> None:
    """Items' frames (end to end, `counts` each) written and recorded."""
    frames.record(ids, frames.write(values), np.asarray(counts))


def test_frames_come_back_whole_or_cut_and_unknown_items_are_absent(tmp_path):
    rng = np.random.default_rng(1)
    prints = {
        item: rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        for item, n in ((7, 1200), (3, 40), (12, 969), (5, 0))
    }
    with FrameFile(str(tmp_path)) as frames:
        # In two chunks, ids in no particular order.
        for chunk in ([7, 3], [12, 5]):
            keep(
                frames,
                chunk,
                np.concatenate([prints[i] for i in chunk]),
                np.array([len(prints[i]) for i in chunk]),
            )
        whole = frames.read([12, 3, 99, 7, 5])
        cut = frames.read([7, 3], limit=969)
        # The file is unlinked from the start: nothing is left in the folder.
        assert list(tmp_path.iterdir()) == []
    assert sorted(whole) == [3, 5, 7, 12]
    for item, got in whole.items():
        assert got.dtype == np.uint32 and np.array_equal(got, prints[item])
    assert np.array_equal(cut[7], prints[7][:969])
    assert np.array_equal(cut[3], prints[3])


def test_a_failed_write_keeps_what_was_written_and_nothing_more(tmp_path, monkeypatch):
    frames = FrameFile(str(tmp_path))
    one = np.arange(10, dtype=np.uint32)
    keep(frames, [1], one, np.array([10]))

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.pwrite", disk_full)
    keep(frames, [2], one, np.array([10]))
    monkeypatch.undo()
    keep(frames, [3], one, np.array([10]))
    found = frames.read([1, 2, 3])
    frames.close()
    assert sorted(found) == [1] and np.array_equal(found[1], one)


def test_without_positional_io_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("beetsplug.dedupfuzzy.store.framefile._POSITIONAL", False)
    with FrameFile(str(tmp_path)) as frames:
        keep(frames, [1], np.arange(10, dtype=np.uint32), np.array([10]))
        assert frames.read([1]) == {}


# The file the forked workers write to (inherited, as the sketching workers').
_shared: FrameFile | None = None


def _write_from_worker(values: np.ndarray) -> int | None:
    assert _shared is not None
    return _shared.write(values)


def test_forked_writers_put_their_frames_where_the_parent_records_them(tmp_path):
    """Sketching workers write the frames they decode themselves; the
    parent notes only where each chunk went."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    rng = np.random.default_rng(2)
    chunks = {
        (k, k + 100): [
            rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
            for n in (300 + k, 50 + 7 * k)
        ]
        for k in range(12)
    }
    global _shared
    with FrameFile(str(tmp_path)) as frames:
        frames.share()
        _shared = frames
        with ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("fork")
        ) as pool:
            jobs = {
                ids: pool.submit(_write_from_worker, np.concatenate(prints))
                for ids, prints in chunks.items()
            }
            starts = {ids: job.result() for ids, job in jobs.items()}
        _shared = None
        assert len(set(starts.values())) == len(chunks)
        for ids, prints in chunks.items():
            frames.record(list(ids), starts[ids], np.array([len(p) for p in prints]))
        back = frames.read([i for ids in chunks for i in ids])
    for ids, prints in chunks.items():
        for item, expected in zip(ids, prints, strict=True):
            assert np.array_equal(back[item], expected)
