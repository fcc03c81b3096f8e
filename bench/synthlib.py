"""A synthetic beets library of many items that already carry fingerprints.

Real audio for 100,000 tracks is out of reach of a benchmark, so fingerprints
are synthesised: frames drift a few bits at a time like real Chromaprint
frames; a copy of a recording is the same frames shifted by up to two
seconds with a few percent of bits flipped (a transcode). Each item has an
(empty) file on disk whose mtime matches the item's, as after a chroma or
dedupfuzzy run, so nothing needs decoding.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from beets import config  # noqa: E402
from beets.library import Library  # noqa: E402

from beetsplug.dedupfuzzy.matching import codec  # noqa: E402
from beetsplug.dedupfuzzy.matching.similarity import FRAME_SECONDS  # noqa: E402

MTIME = 1_600_000_000.0


@dataclass
class SynthLibrary:
    dbpath: Path
    musicdir: Path
    truth: set[tuple[int, int]]
    n_items: int


class SongMaker:
    """Frames with realistic statistics, cheaply, for very many songs.

    Real Chromaprint bits are biased per song (each of the 32 bits is set in
    its own share of frames) and change a few at a time. A pool of base
    songs is drawn from a smoothed random process with per-song biases; each
    new song is a base song with its 32 bits permuted and its frames rolled,
    which keeps those statistics and makes every song's frames different.
    """

    def __init__(self, rng: np.random.Generator, pool: int = 512, n: int = 1000):
        self.rng = rng
        self.n = n
        noise = rng.standard_normal((pool, n + 8, 32)).astype(np.float32)
        smooth = np.cumsum(noise, axis=1)
        smooth = (smooth[:, 8:] - smooth[:, :-8]) / np.float32(np.sqrt(8))
        bias = rng.normal(0.0, 0.35, (pool, 1, 32)).astype(np.float32)
        self.bits = smooth + bias > 0  # (pool, n, 32) booleans

    def song(self, n: int) -> np.ndarray:
        base = self.bits[self.rng.integers(len(self.bits))]
        perm = self.rng.permutation(32)
        start = int(self.rng.integers(self.n))
        bits = np.roll(base[:, perm], -start, axis=0)[:n]
        weights = (1 << np.arange(32, dtype=np.uint64)).astype(np.uint64)
        return (bits.astype(np.uint64) * weights).sum(axis=1).astype(np.uint32)


def _copy(rng: np.random.Generator, frames: np.ndarray, ber: float) -> np.ndarray:
    shift = int(rng.integers(-16, 17))
    flips = rng.random((len(frames), 32)) < ber
    noise = (flips * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1)
    out = frames ^ noise.astype(np.uint32)
    if shift > 0:
        noise = rng.integers(0, 2**32, shift, dtype=np.uint64).astype(np.uint32)
        out = np.concatenate([noise, out])[: len(frames)]
    elif shift < 0:
        out = out[-shift:]
    return out


def build(root: Path, n_items: int, dup_fraction: float = 0.1, seed: int = 7):
    """Create the library under `root`; return it with its true duplicate pairs."""
    rng = np.random.default_rng(seed)
    musicdir = root / "music"
    dbpath = root / "library.db"
    n_copies = int(n_items * dup_fraction)
    n_songs = n_items - n_copies
    lengths = np.clip(rng.normal(240, 60, n_songs), 60, 900)
    originals = rng.choice(n_songs, n_copies, replace=False)
    config["create_backup_before_migrations"] = False
    lib = Library(str(dbpath), str(musicdir))
    items, fingerprints, truth = [], [], set()
    fps: dict[int, np.ndarray] = {}

    def add(item_id: int, frames: np.ndarray, length: float, fmt: str) -> None:
        folder = musicdir / f"{item_id // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{item_id:06d}.{fmt.lower()}"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        os.utime(path, (MTIME, MTIME))
        bitrate = 900_000 if fmt == "FLAC" else 192_000
        items.append(
            (
                item_id,
                os.fsencode(path),
                length,
                fmt,
                bitrate,
                16 if fmt == "FLAC" else 0,
                44100,
                MTIME,
                f"title {item_id}",
                f"artist {item_id % 997}",
                "album",
            )
        )
        fingerprints.append((codec.encode(frames), item_id))

    maker = SongMaker(rng)
    next_id = 1
    song_ids = {}
    for s in range(n_songs):
        n = int(min(lengths[s], 120) / FRAME_SECONDS)
        frames = maker.song(n)
        fps[s] = frames
        song_ids[s] = next_id
        add(next_id, frames, float(lengths[s]), "FLAC")
        next_id += 1
    for s in originals.tolist():
        frames = _copy(rng, fps[s], float(rng.uniform(0.005, 0.08)))
        add(next_id, frames, float(lengths[s] + rng.uniform(-1.5, 1.5)), "MP3")
        truth.add((song_ids[s], next_id))
        next_id += 1
    with lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO items (id, path, length, format, bitrate, bitdepth, "
            "samplerate, mtime, title, artist, album) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            items,
        )
        tx.mutate_many(
            "UPDATE items SET acoustid_fingerprint = ? WHERE id = ?", fingerprints
        )
    lib._close()
    return SynthLibrary(dbpath, musicdir, truth, n_items)
