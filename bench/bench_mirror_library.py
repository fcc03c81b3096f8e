"""Benchmark `beet mirror` in library mode on a large in-place library.

Builds a beets library of ALBUMS album folders (about TRACKS empty files
each; 10,000 x 10 = 100,000 items by default) in ``music/flac`` and
``music/mp3``, outside the library directory, as an in-place import
(``copy: no``) leaves it; rows are inserted in bulk through SQL, every item
carrying its recording (``dedupfuzzy_recording``) as the recording model
stores it. Albums come in a cycle of ten:

- four only in FLAC, one only in MP3;
- two in FLAC and MP3 under one name, one under different names
  ("Album 00042" and "[1984] Album 00042");
- two partial across formats (20 %): FLAC tracks 1-10 with MP3 tracks 1-6,
  and MP3 tracks 1-10 with FLAC tracks 1-6 under another name.

The adversarial case: every 50th album is an MP3 compilation of ten
recordings taken from ten other albums; it shares one song with each and
must join none.

Then it times, through the real `beet` CLI: the first run (both views built
from nothing), a re-run with nothing changed, and a re-run after ten albums
left the library (the ten the first compilation takes a song from); it
checks the views link by link against what the track-level rule says, after
the first run and after the removal, and prints the phases of one in-process
run.
Targets: first run <= 5 s, re-run <= 1.5 s, after ten albums removed <= 2 s,
peak <= 600 MiB.

    .venv/bin/python bench/bench_mirror_library.py [--albums 10000] [--tracks 10]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MTIME = 1_600_000_000.0
ALBUMS_PER_ARTIST = 8
FLAC_ONLY, MP3_ONLY, SAME_NAME, OTHER_NAME = "flac", "mp3", "same", "other"
PARTIAL_MP3, PARTIAL_FLAC = "partial-mp3", "partial-flac"
CYCLE = (FLAC_ONLY, SAME_NAME, FLAC_ONLY, PARTIAL_MP3, MP3_ONLY)
CYCLE += (OTHER_NAME, FLAC_ONLY, PARTIAL_FLAC, SAME_NAME, FLAC_ONLY)
COMPILATION_EVERY = 50
PARTIAL_TRACKS = 6


def copies_of(kind: str) -> tuple[str, ...]:
    return {FLAC_ONLY: ("flac",), MP3_ONLY: ("mp3",)}.get(kind, ("flac", "mp3"))


class Builder:
    """Rows for the items table and what each view must show."""

    def __init__(self, music: Path, tracks: int) -> None:
        self.music = music
        self.tracks = tracks
        self.rows: list[tuple] = []
        self.recordings: list[tuple] = []
        self.expected: dict[str, dict[str, str]] = {"high": {}, "low": {}}
        self.next_id = 1
        self.next_recording = 1
        self.albums: list[str] = []

    def folder(self, fmt: str, artist: str, name: str, titles, year: int) -> dict:
        """One album folder: its files and rows; returns {track: path}."""
        folder = self.music / fmt / artist / name
        folder.mkdir(parents=True)
        made = {}
        for number, (title, recording) in titles.items():
            path = folder / f"{number:02d} {title}.{fmt}"
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            lossless = fmt == "flac"
            self.rows.append(
                (self.next_id, os.fsencode(path), 240.0, fmt.upper())
                + (900_000 if lossless else 320_000, 16 if lossless else 0)
                + (44100, MTIME, title, artist, artist, name, number, year)
            )
            self.recordings.append((self.next_id, "dedupfuzzy_recording", recording))
            self.next_id += 1
            made[number] = str(path)
        # Music folders are old, as in a real library: not changed in the
        # last seconds (which the mirror's stamp treats with suspicion).
        os.utime(folder, (MTIME, MTIME))
        return made

    def album(self, index: int, kind: str) -> list[int]:
        artist = f"Artist {index // ALBUMS_PER_ARTIST:04d}"
        album = f"Album {index:05d}"
        year = 1960 + index % 60
        songs = {
            n: (f"Track {n}", self.next_recording + n - 1)
            for n in range(1, self.tracks + 1)
        }
        self.next_recording += self.tracks
        rel = os.path.join(artist, album)
        flac_songs = mp3_songs = songs
        if kind == PARTIAL_MP3:
            mp3_songs = {n: songs[n] for n in range(1, PARTIAL_TRACKS + 1)}
        if kind == PARTIAL_FLAC:
            flac_songs = {n: songs[n] for n in range(1, PARTIAL_TRACKS + 1)}
        made = {}
        for fmt in copies_of(kind):
            named = fmt == "mp3" and kind in (OTHER_NAME, PARTIAL_FLAC)
            name = f"[{year}] {album}" if named else album
            titles = flac_songs if fmt == "flac" else mp3_songs
            made[fmt] = self.folder(fmt, artist, name, titles, year)
        high, low = self.expected["high"], self.expected["low"]
        whole = {f: os.path.dirname(next(iter(t.values()))) for f, t in made.items()}
        if kind == PARTIAL_MP3:
            high[rel] = whole["flac"]
            for n in songs:
                fmt = "mp3" if n in made["mp3"] else "flac"
                low[os.path.join(rel, f"{n:02d} Track {n}.{fmt}")] = made[fmt][n]
        elif kind == PARTIAL_FLAC:
            for n in songs:
                fmt = "flac" if n in made["flac"] else "mp3"
                high[os.path.join(rel, f"{n:02d} Track {n}.{fmt}")] = made[fmt][n]
            low[rel] = whole["mp3"]
        else:
            high[rel] = whole.get("flac", whole.get("mp3"))
            low[rel] = whole.get("mp3", whole.get("flac"))
        self.albums.append(album)
        return [recording for _, recording in songs.values()]

    def compilation(self, index: int, pool: list[list[int]]) -> None:
        """Ten songs from ten albums, in MP3: joins none of them."""
        name = f"Best Of {index:05d}"
        picked = pool[-self.tracks :]
        titles = {n: (f"Hit {n}", songs[0]) for n, songs in enumerate(picked, 1)}
        made = self.folder("mp3", "Various Artists", name, titles, 2000)
        rel = os.path.join("Various Artists", name)
        folder = os.path.dirname(next(iter(made.values())))
        self.expected["high"][rel] = self.expected["low"][rel] = folder


def build(root: Path, folders: int, tracks: int) -> dict:
    """Create the library under ``root``; return what the views must show."""
    from beets import config
    from beets.library import Library

    music = root / "music"
    config["create_backup_before_migrations"] = False
    lib = Library(str(root / "library.db"), str(root / "library"))
    builder = Builder(music, tracks)
    pool: list[list[int]] = []
    made = index = 0
    while made < folders:
        if index and index % COMPILATION_EVERY == 0 and len(pool) >= tracks:
            builder.compilation(index, pool)
            made += 1
        kind = CYCLE[index % len(CYCLE)]
        pool.append(builder.album(index, kind))
        made += len(copies_of(kind))
        index += 1
    with lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO items (id, path, length, format, bitrate, bitdepth,"
            " samplerate, mtime, title, artist, albumartist, album, track, year)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            builder.rows,
        )
        tx.mutate_many(
            "INSERT INTO item_attributes (entity_id, key, value) VALUES (?, ?, ?)",
            builder.recordings,
        )
    lib._close()
    return {
        "expected": builder.expected,
        "items": len(builder.rows),
        "albums": len(builder.albums),
        # The ten albums the first compilation takes a song from: their
        # recordings span two entries each.
        "removed": builder.albums[40:50],
    }


def write_config(root: Path, views: Path) -> Path:
    configdir = root / "config"
    configdir.mkdir(exist_ok=True)
    (configdir / "config.yaml").write_text(
        f"directory: {root / 'library'}\n"
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
    # CPU seconds say what the run costs when other work shares the cores.
    cpu = sum(
        float(m)
        for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr)
    )
    summary = proc.stdout.strip().splitlines()[-1]
    return elapsed, peak, f"(cpu {cpu:.2f} s) {summary}"


def read_view(view: Path) -> dict[str, str]:
    found = {}
    for folder, dirs, files in os.walk(view):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                found[os.path.relpath(path, view)] = os.readlink(path)
    return found


def phases(root: Path, configdir: Path) -> None:
    """One in-process library-mode run, phase by phase, views untouched."""
    from beets import config, plugins
    from beets.library import Library

    from beetsplug.dedupfuzzy import settings
    from beetsplug.dedupfuzzy.mirror import albums, files
    from beetsplug.dedupfuzzy.mirror import library as mirror_library
    from beetsplug.dedupfuzzy.mirror.command import load_mirror_options
    from beetsplug.dedupfuzzy.mirror.items import PathTemplate
    from beetsplug.dedupfuzzy.mirror.record import LinkRecord
    from beetsplug.dedupfuzzy.mirror.scan import scan_view

    config.clear()
    config.read(user=False, defaults=True)
    config.set_file(str(configdir / "config.yaml"))
    plugins.load_plugins()
    lib = Library(str(root / "library.db"), str(root / "library"))
    options = load_mirror_options(settings.mirror_view())
    gc.disable()  # as a run does (mirror.library)
    clock = time.perf_counter()
    marks = []

    def mark(what: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        marks.append(f"{what} {now - clock:.2f} s")
        clock = now

    template = PathTemplate(options.path, options.depth, lib)
    tracks = template.read(lib)
    mark("read items")
    usable, _ = files.split_unusable(tracks)
    mark("stat files")
    recordings = files.recordings_of(lib)
    for track in usable:
        track.recording = recordings.get(track.id)
    mark("read recordings")
    found = albums.join_entries(usable)
    mark("join entries")
    census = albums.FolderCensus(t.folder for t in tracks)
    rank, _ = mirror_library._ranker(lib)
    albums.desired_views(found, census, template.track_name, rank)
    mark("choose copies")
    LinkRecord(lib)
    mark("read the record")
    for view in ("high", "low"):
        scan_view(str(root / "views" / view))
    mark("read the views")
    gc.enable()
    print("in-process phases: " + ", ".join(marks))


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
            f" ({root}); load {os.getloadavg()[0]:.1f}"
        )
        views = root / "views"
        configdir = write_config(root, views)

        first, peak, summary = run_beet(configdir, "mirror")
        print(f"first run:           {first:6.2f} s, peak {peak:4.0f} MiB  {summary}")
        for name in ("high", "low"):
            found = read_view(views / name)
            wanted = built["expected"][name]
            assert found == wanted, f"{name}: {len(found)} links, {len(wanted)} wanted"
        print(
            f"views checked: {len(built['expected']['high'])} links in high,"
            f" {len(built['expected']['low'])} in low"
        )
        os.sync()

        again, peak, summary = run_beet(configdir, "mirror")
        print(f"no-change re-run:    {again:6.2f} s, peak {peak:4.0f} MiB  {summary}")
        assert "0 created, 0 replaced, 0 removed" in summary

        from beets.library import Library

        lib = Library(str(root / "library.db"), str(root / "library"))
        with lib.transaction() as tx:
            for album in built["removed"]:
                tx.mutate("DELETE FROM items WHERE album LIKE ?", (f"%{album}",))
        lib._close()
        change, peak, summary = run_beet(configdir, "mirror")
        print(f"ten albums removed:  {change:6.2f} s, peak {peak:4.0f} MiB  {summary}")
        print(f"load average now {os.getloadavg()[0]:.1f}")
        # Only the removed albums' links went; everything else as it was.
        for name in ("high", "low"):
            found = read_view(views / name)
            wanted = {
                rel: target
                for rel, target in built["expected"][name].items()
                if rel.split(os.sep)[1] not in built["removed"]
            }
            assert found == wanted, f"{name}: {len(found)} links, {len(wanted)} wanted"
        print("views checked after the removal")

        phases(root, configdir)
    finally:
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
