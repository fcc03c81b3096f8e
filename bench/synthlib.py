"""A synthetic beets library of many fingerprinted items that resembles a real one.

Real audio for 100,000 tracks is out of reach of a benchmark, so the
fingerprints are built from real ones (`realprints`: the test corpus run
through fpcalc):

- a **song** is spliced from segments of one to three real recordings
  (repeats included, as choruses repeat), then its 32 bits are permuted and
  XOR-ed with a mask of its own, so every song differs while keeping real
  frames' statistics (per-bit biases, a few bits changing per frame);
- a **copy** is its song's frames XOR-ed with the aligned error pattern of a
  real transcode (mp3, aac, opus, vorbis, a remaster...; permuted like the
  song), sometimes shifted by leading silence: real errors, not random flips;
- an **edit** (radio edit, extended mix) has the same first 120 s as its song
  (fpcalc reads no further) and a length 20-90 s different: never a copy;
- **noise-like** tracks (ambient, field recordings) have flat bit profiles:
  every bit is set in about half the frames. `flat=1.0` makes a library of
  nothing else, the profile search's worst case.

Each item has a small file on disk whose mtime matches the item's, as after
a chroma run (the fingerprints are adopted), so nothing needs fpcalc.

The files hold no audio, so a fingerprint covers the whole track (as
`fpcalc -length 0` gives), not fpcalc's default two minutes: the check of
two copies' endings (`matching/endings`) then reads its window from the
stored fingerprint instead of decoding an excerpt of the file. What those
decodes cost on real files is measured by `bench_corpus.py`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import realprints  # noqa: E402
from beets import config  # noqa: E402
from beets.library import Library  # noqa: E402

from beetsplug.dedupfuzzy.matching.similarity import FRAME_SECONDS  # noqa: E402

MTIME = 1_600_000_000.0
FPCALC_SECONDS = 120.0
_lib = ctypes.CDLL(ctypes.util.find_library("chromaprint") or "libchromaprint.so.1")


def encode(frames: np.ndarray) -> str:
    """libchromaprint's own encoder (C API), fast enough for a million items."""
    raw = np.ascontiguousarray(frames, dtype=np.uint32)
    out = ctypes.POINTER(ctypes.c_char)()
    size = ctypes.c_int()
    ok = _lib.chromaprint_encode_fingerprint(
        raw.ctypes.data_as(ctypes.POINTER(ctypes.c_int)),
        len(raw),
        1,
        ctypes.byref(out),
        ctypes.byref(size),
        1,
    )
    assert ok == 1
    try:
        return ctypes.string_at(out, size.value).decode("ascii")
    finally:
        _lib.chromaprint_dealloc(out)


@dataclass
class SynthLibrary:
    dbpath: Path
    musicdir: Path
    truth: set[tuple[int, int]]
    edits: set[tuple[int, int]]
    n_items: int
    next_id: int = 0
    maker: SongMaker | None = None
    songs: dict[int, tuple[np.ndarray, float, np.ndarray]] = field(default_factory=dict)


_WEIGHTS = (1 << np.arange(32, dtype=np.uint64)).astype(np.uint64)


def _permute_bits(frames: np.ndarray, perm: np.ndarray) -> np.ndarray:
    bits = (frames[:, None] >> np.arange(32, dtype=np.uint32)) & np.uint32(1)
    return (bits[:, perm].astype(np.uint64) * _WEIGHTS).sum(axis=1).astype(np.uint32)


class SongMaker:
    """Songs, copies and edits from real fingerprint material."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.sources, self.errors, _ = realprints.load()

    def _splice(self, pool: list[np.ndarray], n: int, lo: int, hi: int) -> np.ndarray:
        parts, total = [], 0
        while total < n:
            src = pool[int(self.rng.integers(len(pool)))]
            size = int(self.rng.integers(lo, hi))
            start = int(self.rng.integers(0, max(1, len(src) - size)))
            part = src[start : start + size]
            parts.append(part)
            total += len(part)
        return np.concatenate(parts)[:n]

    def song(self, n: int, flat: bool) -> tuple[np.ndarray, np.ndarray]:
        """(frames, bit permutation) of a new song of n frames."""
        perm = self.rng.permutation(32)
        if flat:
            return self._noise(n), perm
        k = int(self.rng.integers(1, 4))
        chosen = self.rng.integers(len(self.sources), size=k)
        pool = [self.sources[int(i)] for i in chosen]
        frames = self._splice(pool, n, 30, 120)
        mask = np.uint32(self.rng.integers(0, 2**32))
        return _permute_bits(frames, perm) ^ mask, perm

    def _noise(self, n: int) -> np.ndarray:
        """Noise-like frames: every bit set half the time, a third change per frame."""
        flips = self.rng.random((n, 32)) < 0.35
        bits = np.logical_xor.accumulate(flips, axis=0)
        bits ^= self.rng.random(32) < 0.5
        return (bits.astype(np.uint64) * _WEIGHTS).sum(axis=1).astype(np.uint32)

    def copy(self, frames: np.ndarray, perm: np.ndarray) -> np.ndarray:
        """A transcode: the song XOR a real error pattern, maybe shifted."""
        pattern = self.errors[int(self.rng.integers(len(self.errors)))]
        noise = _permute_bits(self._splice([pattern], len(frames), 60, 400), perm)
        out = frames ^ noise
        shift = int(self.rng.integers(-8, 17)) if self.rng.random() < 0.3 else 0
        if shift > 0:
            lead = np.full(shift, out[0] & np.uint32(0x0F0F0F0F), np.uint32)
            out = np.concatenate([lead, out])[: len(frames)]
        elif shift < 0:
            out = out[-shift:]
        return out


def build(
    root: Path,
    n_items: int,
    dup_fraction: float = 0.1,
    edit_fraction: float = 0.01,
    flat: float = 0.05,
    seed: int = 7,
) -> SynthLibrary:
    """Create the library under `root`; return it with its true pairs."""
    rng = np.random.default_rng(seed)
    musicdir = root / "music"
    dbpath = root / "library.db"
    config["create_backup_before_migrations"] = False
    lib = Library(str(dbpath), str(musicdir))
    synth = SynthLibrary(dbpath, musicdir, set(), set(), n_items)
    synth.maker = SongMaker(rng)
    n_copies = int(n_items * dup_fraction)
    n_edits = int(n_items * edit_fraction)
    n_songs = n_items - n_copies - n_edits
    items: list[tuple] = []
    for _ in range(n_songs):
        add_song(synth, items, flat=bool(rng.random() < flat))
    song_ids = list(synth.songs)
    for s in rng.choice(song_ids, n_copies, replace=True).tolist():
        add_copy(synth, items, s)
    long_songs = [s for s in song_ids if synth.songs[s][1] >= FPCALC_SECONDS + 20]
    for s in rng.choice(long_songs, n_edits, replace=False).tolist():
        add_edit(synth, items, s)
    insert(lib, items)
    lib._close()
    return synth


def _item(synth: SynthLibrary, frames: np.ndarray, length: float, fmt: str) -> tuple:
    item_id = synth.next_id = synth.next_id + 1
    folder = synth.musicdir / f"{item_id // 1000:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{item_id:07d}.{fmt.lower()}"
    # A few bytes of its own, so the file has an audio identity to record.
    path.write_bytes(item_id.to_bytes(8, "little") * 8)
    os.utime(path, (MTIME, MTIME))
    lossless = fmt == "FLAC"
    return (
        item_id,
        os.fsencode(path),
        float(length),
        fmt,
        900_000 if lossless else 192_000,
        16 if lossless else 0,
        44100,
        MTIME,
        f"title {item_id}",
        f"artist {item_id % 997}",
        "album",
        encode(frames),
    )


def _frames_for(length: float) -> int:
    return int(length / FRAME_SECONDS)


def add_song(synth: SynthLibrary, items: list, flat: bool = False) -> int:
    rng = synth.maker.rng
    length = float(np.clip(rng.normal(240, 60), 60, 900))
    frames, perm = synth.maker.song(_frames_for(length), flat)
    items.append(_item(synth, frames, length, "FLAC"))
    synth.songs[synth.next_id] = (frames, length, perm)
    return synth.next_id


def add_copy(synth: SynthLibrary, items: list, song: int) -> int:
    frames, length, perm = synth.songs[song]
    rng = synth.maker.rng
    copy = synth.maker.copy(frames, perm)
    fmt = ("MP3", "AAC", "OPUS", "OGG")[int(rng.integers(4))]
    items.append(_item(synth, copy, length + rng.uniform(-1.0, 1.0), fmt))
    synth.truth.add((song, synth.next_id))
    return synth.next_id


def add_edit(synth: SynthLibrary, items: list, song: int) -> int:
    frames, length, perm = synth.songs[song]
    rng = synth.maker.rng
    delta = float(rng.uniform(20, 90)) * (1 if rng.random() < 0.5 else -1)
    delta = max(delta, FPCALC_SECONDS - length + 1)  # still over 120 s
    n = _frames_for(length + delta)
    if n > len(frames):  # an extended mix: other material after the song's end
        frames = np.concatenate([frames, synth.maker.song(n - len(frames), False)[0]])
    edit = synth.maker.copy(frames[:n], perm)
    items.append(_item(synth, edit, length + delta, "MP3"))
    synth.edits.add((song, synth.next_id))
    return synth.next_id


def insert(lib: Library, items: list[tuple]) -> None:
    with lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO items (id, path, length, format, bitrate, bitdepth, "
            "samplerate, mtime, title, artist, album, acoustid_fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            items,
        )
