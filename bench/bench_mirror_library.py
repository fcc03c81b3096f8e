"""Benchmark `beet mirror` in library mode on a large synthetic library.

Builds a beets library of ALBUMS album folders (TRACKS empty files each,
10,000 x 10 = 100,000 items by default) with rows inserted in bulk through
SQL, every item carrying a synthetic fingerprint and sketch as after
`beet dedupfuzzy`. Albums come in a cycle of six: three only in FLAC, one
only in MP3, one in FLAC and MP3 under one name, and one in FLAC and MP3
under different names ("Album 00042" and "[1984] Album 00042"), which only
the fingerprints can join. Then it times, through the real `beet` CLI:

- the first run (both views built from nothing),
- a re-run with nothing changed,
- a re-run after ten albums left the library,

checks the views (every album once per view, from the right format, the
differently named pairs joined) and prints the phases of one in-process
run. Targets: first run <= 10 s, no-change re-run <= 3 s.

    .venv/bin/python bench/bench_mirror_library.py [--albums 10000] [--tracks 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from synthlib import SongMaker  # noqa: E402

MTIME = 1_600_000_000.0
ALBUMS_PER_ARTIST = 8
# The cycle of six albums: which copies each has.
FLAC_ONLY, MP3_ONLY, SAME_NAME, OTHER_NAME = "flac", "mp3", "same", "other"
CYCLE = (FLAC_ONLY, FLAC_ONLY, FLAC_ONLY, MP3_ONLY, SAME_NAME, OTHER_NAME)
COPIES = {FLAC_ONLY: ("flac",), MP3_ONLY: ("mp3",)}


def copies_of(kind: str) -> tuple[str, ...]:
    return COPIES.get(kind, ("flac", "mp3"))


def plan_albums(folders: int) -> list[str]:
    """Album kinds, in order, until their copies fill ``folders`` folders."""
    kinds: list[str] = []
    made = 0
    while made < folders:
        kind = CYCLE[len(kinds) % len(CYCLE)]
        if made + len(copies_of(kind)) > folders:
            kind = FLAC_ONLY
        kinds.append(kind)
        made += len(copies_of(kind))
    return kinds


def transcode(rng: np.random.Generator, frames: np.ndarray) -> np.ndarray:
    """A lossy copy: a few percent of bits flipped, shifted by up to a second."""
    flips = rng.random((len(frames), 32)) < rng.uniform(0.01, 0.06)
    noise = (flips * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1)
    out = frames ^ noise.astype(np.uint32)
    shift = int(rng.integers(0, 8))
    return out[shift:]


def build(root: Path, folders: int, tracks: int, seed: int = 11) -> dict:
    """Create the library under ``root``; return what the views must show."""
    from beets import config
    from beets.library import Library

    from beetsplug.dedupfuzzy.fingerprinting import refresh as fingerprints
    from beetsplug.dedupfuzzy.matching import codec
    from beetsplug.dedupfuzzy.matching.blockindex import encode_sketch
    from beetsplug.dedupfuzzy.matching.similarity import FRAME_SECONDS

    rng = np.random.default_rng(seed)
    maker = SongMaker(rng)
    music = root / "music"
    config["create_backup_before_migrations"] = False
    lib = Library(str(root / "library.db"), str(music))
    rows, blocks = [], []
    expected: dict[str, dict[str, str]] = {"high": {}, "low": {}}
    next_id = 1
    kinds = plan_albums(folders)
    for index, kind in enumerate(kinds):
        artist = f"Artist {index // ALBUMS_PER_ARTIST:04d}"
        album = f"Album {index:05d}"
        year = 1960 + index % 60
        lengths = np.clip(rng.normal(240, 60, tracks), 90, 600)
        songs = [maker.song(int(min(n, 120) / FRAME_SECONDS)) for n in lengths]
        made = {}
        for fmt in copies_of(kind):
            if fmt == "flac":
                folder = music / "flac" / artist / album
                name = album
            else:
                folder = music / "mp3" / artist / f"[{year}] {album}"
                name = f"[{year}] {album}" if kind == OTHER_NAME else album
            folder.mkdir(parents=True)
            made[fmt] = str(folder)
            for track, (frames, length) in enumerate(zip(songs, lengths, strict=True)):
                if fmt == "mp3":
                    frames = transcode(rng, frames)
                path = folder / f"{track + 1:02d} Track {track + 1}.{fmt}"
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
                os.utime(path, (MTIME, MTIME))
                lossless = fmt == "flac"
                # beets keeps paths inside the library relative to it
                stored = os.fsencode(path.relative_to(music).as_posix())
                rows.append(
                    (next_id, stored, float(length), fmt.upper())
                    + (900_000 if lossless else 320_000, 16 if lossless else 0)
                    + (44100, MTIME, f"Track {track + 1}", artist, artist, name)
                    + (track + 1, year, codec.encode(frames))
                )
                sketch = encode_sketch(fingerprints.sketch_of(frames))
                blocks.append((next_id, "dedupfuzzy_blocks", sketch))
                next_id += 1
        rel = os.path.join(artist, album)
        expected["high"][rel] = made.get("flac", made.get("mp3"))
        expected["low"][rel] = made.get("mp3", made.get("flac"))
    with lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO items (id, path, length, format, bitrate, bitdepth,"
            " samplerate, mtime, title, artist, albumartist, album, track, year,"
            " acoustid_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?)",
            rows,
        )
        tx.mutate_many(
            "INSERT INTO item_attributes (entity_id, key, value) VALUES (?, ?, ?)",
            blocks,
        )
    lib._close()
    return {"expected": expected, "items": len(rows), "albums": len(kinds)}


def write_config(root: Path, views: Path) -> Path:
    configdir = root / "config"
    configdir.mkdir(exist_ok=True)
    (configdir / "config.yaml").write_text(
        f"directory: {root / 'music'}\n"
        f"library: {root / 'library.db'}\n"
        "plugins: [dedupfuzzy]\n"
        "create_backup_before_migrations: no\n"
        "mirror:\n"
        f"    high: {views / 'high'}\n"
        f"    low: {views / 'low'}\n"
        "    depth: 2\n"
    )
    return configdir


def run_beet(configdir: Path, *args: str) -> tuple[float, float, str]:
    """Run beet (under /usr/bin/time when there); return seconds, peak MiB, output."""
    env = dict(os.environ, BEETSDIR=str(configdir), HOME=str(configdir.parent))
    beet = str(Path(sys.executable).with_name("beet"))
    timer = ["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []
    start = time.perf_counter()
    proc = subprocess.run(
        [*timer, beet, *args], capture_output=True, text=True, env=env, check=True
    )
    elapsed = time.perf_counter() - start
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    peak = int(rss.group(1)) / 1024 if rss else float("nan")
    return elapsed, peak, proc.stdout.strip().splitlines()[-1]


def read_view(view: Path) -> dict[str, str]:
    found = {}
    for artist in os.scandir(view):
        for entry in os.scandir(artist.path):
            if entry.is_symlink():
                found[os.path.join(artist.name, entry.name)] = os.readlink(entry.path)
    return found


def phases(root: Path, configdir: Path) -> None:
    """One in-process library-mode run, phase by phase, views untouched."""
    from beets import config, plugins
    from beets.library import Library

    from beetsplug.dedupfuzzy import settings
    from beetsplug.dedupfuzzy.mirror import albums as albums
    from beetsplug.dedupfuzzy.mirror import library as mirror_library
    from beetsplug.dedupfuzzy.mirror.items import PathTemplate

    config.clear()
    config.read(user=False, defaults=True)
    config.set_file(str(configdir / "config.yaml"))
    plugins.load_plugins()
    lib = Library(str(root / "library.db"), str(root / "music"))
    options = mirror_library.load_mirror_options(settings.mirror_view())
    clock = time.perf_counter()
    marks = []

    def mark(what: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        marks.append(f"{what} {now - clock:.2f} s")
        clock = now

    template = PathTemplate(options.path, options.depth, lib)
    tracks, paths = template.read(lib, ())
    mark("read items")
    copies = albums.group_copies(tracks)
    mark("group")
    postings, blocks = mirror_library.read_sketches(lib, tracks)
    mark("read sketches")
    pairs = albums.shared_key_pairs(postings, 5.0)
    candidates = albums.candidate_copies(copies, pairs)
    mark(f"shared keys ({len(candidates)} candidates)")
    match = mirror_library._match_settings()
    check = mirror_library.SoundCheck(lib, tracks, blocks, candidates, match)
    found, merged = albums.merge_albums(copies, candidates, check)
    mark(f"sound checks ({check.checked} verified, {merged} joined)")
    albums.desired_views(found, albums.FolderCensus(paths), template.track_name)
    mark("views")
    print("in-process phases (remembered checks): " + ", ".join(marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--albums", type=int, default=10_000, help="album folders")
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-mirror-library-"))
    try:
        start = time.perf_counter()
        built = build(root, options.albums, options.tracks)
        os.sync()
        print(
            f"built {options.albums} album folders, {built['items']} items,"
            f" {built['albums']} albums in {time.perf_counter() - start:.1f} s"
            f" ({root})"
        )
        views = root / "views"
        configdir = write_config(root, views)

        first, peak, summary = run_beet(configdir, "mirror")
        print(f"first run:           {first:6.2f} s, peak {peak:4.0f} MiB  {summary}")
        for name in ("high", "low"):
            found = read_view(views / name)
            wanted = built["expected"][name]
            assert found == wanted, f"{name}: {len(found)} links, {len(wanted)} wanted"
        print(f"views checked: {len(built['expected']['high'])} albums in each")

        again, peak, summary = run_beet(configdir, "mirror")
        print(f"no-change re-run:    {again:6.2f} s, peak {peak:4.0f} MiB  {summary}")
        assert "0 created, 0 replaced, 0 removed" in summary

        from beets.library import Library

        lib = Library(str(root / "library.db"), str(root / "music"))
        with lib.transaction() as tx:
            for index in range(10):
                tx.mutate(f"DELETE FROM items WHERE album LIKE '%Album {index:05d}'")
        lib._close()
        change, peak, summary = run_beet(configdir, "mirror")
        print(f"ten albums removed:  {change:6.2f} s, peak {peak:4.0f} MiB  {summary}")

        phases(root, configdir)
    finally:
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
