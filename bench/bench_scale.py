"""Benchmark: `beet dedupfuzzy` on a synthetic library of many fingerprinted items.

Usage: python bench/bench_scale.py [N_ITEMS]   (default 100000)

Prints the wall time and peak memory of the first run (sketches computed from
the stored fingerprints) and of a warm run (nothing changed), the recall and
precision of duplicate pairs against the synthetic truth, and the time to
match one new item against the whole library through the block index (the
import hook's per-item cost).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import synthlib  # noqa: E402

BEET = str(Path(sys.executable).with_name("beet"))


def run_beet(configdir: Path, *args: str) -> tuple[float, float, str]:
    """Run beet under /usr/bin/time; return (seconds, peak MiB, stdout)."""
    env = dict(os.environ, BEETSDIR=str(configdir))
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", BEET, *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    elapsed = time.perf_counter() - start
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return elapsed, (int(rss.group(1)) / 1024 if rss else float("nan")), proc.stdout


def pairs_of(doc: dict) -> set[tuple[int, int]]:
    found = set()
    for g in doc["groups"]:
        if g["status"] != "duplicate":
            continue
        ids = sorted(i["id"] for i in g["items"])
        for k, a in enumerate(ids):
            for b in ids[k + 1 :]:
                found.add((a, b))
    return found


def per_item_latency(dbpath: Path, musicdir: Path, samples: int = 200) -> tuple:
    """Load the index once, then time matching single items against it."""
    from beets.library import Library

    from beetsplug.dedupfuzzy import importmatch  # noqa: F401
    from beetsplug.dedupfuzzy.settings import MatchSettings
    from beetsplug.dedupfuzzy.store import catalog

    lib = Library(str(dbpath), str(musicdir))
    t0 = time.perf_counter()
    index = importmatch.LibraryIndex.load(lib, MatchSettings())
    load = time.perf_counter() - t0
    rows = catalog.load_rows(lib)[:samples]
    t0 = time.perf_counter()
    for row in rows:
        index.match_row(row, exclude={row.id})
    per = (time.perf_counter() - t0) / len(rows)
    return load, per


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        synth = synthlib.build(root, n)
        print(f"built {n} items in {time.perf_counter() - t0:.1f} s")
        configdir = root / "config"
        configdir.mkdir()
        (configdir / "config.yaml").write_text(
            f"directory: {synth.musicdir}\nlibrary: {synth.dbpath}\n"
            "plugins: [dedupfuzzy]\ncreate_backup_before_migrations: no\n"
        )
        first, first_mb, out = run_beet(configdir, "dedupfuzzy", "--json")
        warm, warm_mb, out2 = run_beet(configdir, "dedupfuzzy", "--json")
        found = pairs_of(json.loads(out2))
        truth = synth.truth
        recall = len(found & truth) / len(truth)
        precision = len(found & truth) / max(1, len(found))
        print(f"first run: {first:.1f} s, peak {first_mb:.0f} MiB")
        print(f"warm run:  {warm:.1f} s, peak {warm_mb:.0f} MiB")
        print(
            f"pairs: recall {recall:.4f}, precision {precision:.4f} "
            f"({len(found)} found, {len(truth)} true)"
        )
        try:
            load, per = per_item_latency(synth.dbpath, synth.musicdir)
            print(
                f"import matching: index load {load:.1f} s, "
                f"{per * 1000:.1f} ms per new item"
            )
        except ImportError:
            print("import matching: not built yet")


if __name__ == "__main__":
    main()
