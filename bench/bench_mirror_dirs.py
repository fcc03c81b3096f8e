"""Benchmark `beet mirror` in directory mode on a large synthetic collection.

Builds ALBUMS album folders (FILES empty files each) spread over artists and
split between a "flac" and an "mp3" source with an overlap, then times a
first run and a no-change re-run, both in-process (scan + plan + apply) and
through the real `beet` CLI. Targets: 10,000 albums in <= 10 s for the first
run and <= 3 s for the re-run.

    .venv/bin/python bench/bench_mirror_dirs.py [--albums 10000] [--files 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALBUMS_PER_ARTIST = 10


def build_sources(root: Path, albums: int, files: int) -> tuple[Path, Path, int]:
    """Make the two sources: 6 in 10 albums in flac, 7 in 10 in mp3 (3 both)."""
    flac, mp3 = root / "music" / "flac", root / "music" / "mp3"
    made = 0
    for index in range(albums):
        rel = Path(
            f"Artist {index // ALBUMS_PER_ARTIST:04d}",
            f"[{1960 + index % 60}] Album {index:05d}",
        )
        sides = []
        if index % 10 < 6:
            sides.append((flac, "flac"))
        if index % 10 >= 3:
            sides.append((mp3, "mp3"))
        for source, ext in sides:
            folder = source / rel
            folder.mkdir(parents=True)
            for track in range(files):
                (folder / f"{track + 1:02d} Track.{ext}").touch()
                made += 1
    return flac, mp3, made


def time_bare_symlinks(folder: Path, albums: int) -> float:
    """The floor: the views' folders and links made by a bare loop, no planning."""
    start = time.perf_counter()
    for view in ("high", "low"):
        for index in range(albums):
            artist = folder / view / f"Artist {index // ALBUMS_PER_ARTIST:04d}"
            if index % ALBUMS_PER_ARTIST == 0:
                artist.mkdir(parents=True)
            os.symlink(f"/nowhere/{index}", artist / f"Album {index:05d}")
    elapsed = time.perf_counter() - start
    os.sync()
    return elapsed


def run_cli(root: Path, args: list[str]) -> tuple[float, str]:
    configdir = root / "config"
    configdir.mkdir(exist_ok=True)
    (configdir / "config.yaml").write_text(
        f"directory: {root / 'library'}\n"
        f"library: {configdir / 'library.db'}\n"
        "plugins: [dedupfuzzy]\n"
        "create_backup_before_migrations: no\n"
    )
    env = dict(os.environ, BEETSDIR=str(configdir), HOME=str(root))
    beet = str(Path(sys.executable).with_name("beet"))
    start = time.perf_counter()
    proc = subprocess.run(
        [beet, "mirror", *args], capture_output=True, text=True, env=env, check=True
    )
    return time.perf_counter() - start, proc.stdout.strip().splitlines()[-1]


def run_in_process(root: Path, args: list[str]) -> float:
    from beets import config
    from beets import logging as beets_logging
    from beets.library import Library

    from beetsplug.dedupfuzzy import settings
    from beetsplug.dedupfuzzy.mirror.command import (
        load_mirror_options,
        make_mirror_command,
        run_directory_mode,
    )

    config.clear()
    config.read(user=False, defaults=True)
    config["create_backup_before_migrations"] = False
    command = make_mirror_command(None)
    opts, _ = command.parse_args(args)
    view = settings.mirror_view()
    view.set_args(opts)
    log = beets_logging.getLogger("beets.bench")
    # A DB of its own: the CLI runs' ownership record holds other view folders.
    lib = Library(str(root / "in-process.db"), str(root / "library"))
    start = time.perf_counter()
    run_directory_mode(lib, log, load_mirror_options(view))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--albums", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    options = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    try:
        start = time.perf_counter()
        flac, mp3, made = build_sources(root, options.albums, options.files)
        print(
            f"built {options.albums} albums, {made} files"
            f" in {time.perf_counter() - start:.1f} s ({root})"
        )
        # Flush the build first, so its writeback is not timed as the mirror.
        start = time.perf_counter()
        os.sync()
        print(f"sync after build: {time.perf_counter() - start:.1f} s")
        baseline = time_bare_symlinks(root / "baseline", options.albums)
        print(f"floor, same folders and links by a bare loop: {baseline:.2f} s")
        high, low = root / "views" / "high", root / "views" / "low"
        args = [
            "--depth=2",
            f"--source-high={flac}",
            f"--source-low={mp3}",
            f"--high={high}",
            f"--low={low}",
        ]

        plan_only, summary = run_cli(root, [*args, "--pretend"])
        print(f"cli pretend (scan + plan): {plan_only:6.2f} s   {summary}")
        first, summary = run_cli(root, args)
        print(f"cli first run:       {first:6.2f} s   {summary}")
        again, summary = run_cli(root, args)
        print(f"cli no-change rerun: {again:6.2f} s   {summary}")

        # Fresh views for the in-process runs (deleting 20,000 links first
        # would time the filesystem catching up, not the mirror).
        args = [
            *args[:3],
            f"--high={root / 'views2' / 'high'}",
            f"--low={root / 'views2' / 'low'}",
        ]
        first = run_in_process(root, args)
        print(f"in-process first run:       {first:6.2f} s")
        again = run_in_process(root, args)
        print(f"in-process no-change rerun: {again:6.2f} s")
    finally:
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
