"""Benchmark: `beet dedupfuzzy` on a large synthetic library built from real prints.

Usage: python bench/bench_scale.py [N_ITEMS] [--flat] [--keep DIR | --reuse DIR]
  N_ITEMS   library size (default 100000)
  --flat    every song noise-like (flat bit profiles): the worst case
  --keep    build the library in DIR (kept afterwards; it must not exist yet),
            with a copy of it as the first run left it
  --reuse   start from that copy in DIR: skip building and the first run,
            measure the warm runs again (after a change to the warm path)
  --build-only  with --keep: only build (no lock needed); a later --reuse
            measures the first run, then the warm runs

Prints, with the machine's load and speed (`machine.py`): the first run
(fingerprints stored, nothing matched yet), a warm run with nothing
changed, a run after 100 items were added (50 copies of library songs, 50
new songs), each with wall time and peak memory; recall of planted copies,
wrong pairs, planted edits merged; and the time to match one new item
against the whole library as the import hook does (index loaded once).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import machine  # noqa: E402
import numpy as np  # noqa: E402
import synthlib  # noqa: E402
from treememory import TreeMemory  # noqa: E402

BEET = str(Path(sys.executable).with_name("beet"))


def run_beet(configdir: Path, *args: str) -> tuple[str, str, str]:
    """Run beet under /usr/bin/time; return (times, memory, stdout).

    The times are wall-clock and CPU (user + system) seconds: on a machine
    others share, the CPU time says what the run costs. The memory is the
    largest process's resident set and, sampled, the proportional anonymous
    memory of all the run's processes together (`treememory`).
    """
    env = dict(os.environ, BEETSDIR=str(configdir))
    # An installed plugin has its bytecode compiled; without it every start
    # compiles the plugin's modules again (0.2 s).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-v", BEET, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    tree = TreeMemory(proc.pid)
    stdout, stderr = proc.communicate()
    everything = tree.stop()
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.stderr.write(stderr)
        raise subprocess.CalledProcessError(proc.returncode, "beet", stdout, stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    cpu = sum(
        float(m.group(1))
        for m in re.finditer(r"(?:User|System) time \(seconds\): ([\d.]+)", stderr)
    )
    mib = int(rss.group(1)) / 1024 if rss else float("nan")
    together = f"{everything:.0f} MiB" if everything else "not sampled"
    memory = f"largest process {mib:.0f} MiB, all processes {together}"
    return f"{elapsed:.1f} s wall, {cpu:.1f} s CPU", memory, stdout


def pairs_of(doc: dict) -> set[tuple[int, int]]:
    found = set()
    for g in doc["groups"]:
        if g["status"] == "duplicate":
            found.update(combinations(sorted(i["id"] for i in g["items"]), 2))
    return found


def true_pairs(synth: synthlib.SynthLibrary) -> set[tuple[int, int]]:
    """Every pair of copies of one song (a song's copies match each other)."""
    by_song: dict[int, set[int]] = {}
    for song, copy in synth.truth:
        by_song.setdefault(song, {song}).add(copy)
    return {p for ids in by_song.values() for p in combinations(sorted(ids), 2)}


def score(doc: dict, synth: synthlib.SynthLibrary) -> str:
    """Recall of planted copies (each grouped with its song), of every pair of
    copies of one song (two copies' errors add up: a few fall below the
    auto threshold and are shown as uncertain), wrong pairs, edits merged."""
    found = pairs_of(doc)
    planted = {tuple(sorted(p)) for p in synth.truth}
    truth = true_pairs(synth)
    recall = len(found & planted) / max(1, len(planted))
    recall_all = len(found & truth) / max(1, len(truth))
    wrong = len(found - truth)
    edits = len(found & {tuple(sorted(e)) for e in synth.edits})
    return (
        f"recall {recall:.4f} ({len(found & planted)}/{len(planted)} copies; "
        f"all copy pairs {recall_all:.4f}), {wrong} wrong pairs, {edits} edits merged"
    )


def load() -> str:
    """The machine's load and speed now (`machine`): figures are comparable
    only between runs whose reference work took alike."""
    loads = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"load {loads}, {machine.describe()}"


def per_item_latency(synth: synthlib.SynthLibrary, samples: int = 200) -> tuple:
    """Load the import index once, then time matching new items against it."""
    from beets.library import Library

    from beetsplug.dedupfuzzy.matching.libraryindex import LibraryIndex, sketch_of_row
    from beetsplug.dedupfuzzy.settings import MatchSettings
    from beetsplug.dedupfuzzy.store.catalog import Row

    lib = Library(str(synth.dbpath), str(synth.musicdir))
    t0 = time.perf_counter()
    index = LibraryIndex.load(lib, MatchSettings())
    loaded = time.perf_counter() - t0
    items: list[tuple] = []
    songs = list(synth.songs)[:samples]
    for s in songs:
        synthlib.add_copy(synth, items, s)
    rows = [
        Row(i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], fingerprint=i[11])
        for i in items
    ]
    # The import sketches each item with its fingerprint, in the background
    # (importing/fingerprints): timed apart from the matching.
    t0 = time.perf_counter()
    for row in rows:
        sketch_of_row(row)
    sketching = (time.perf_counter() - t0) / len(rows)
    t0 = time.perf_counter()
    hits = sum(1 for row in rows if index.match_row(row))
    per = (time.perf_counter() - t0) / len(rows)
    return loaded, sketching, per, hits / len(rows)


# What --reuse needs of the built library besides its DB: the truth and the
# songs later steps copy (the first 200 and the last 50), the generator's state.
STATE = "synth.pkl"
FIRST_DB = "library.first.db"
FIRST_JSON = "first.json"


def save_state(root: Path, synth: synthlib.SynthLibrary, doc: dict | None) -> None:
    ids = list(synth.songs)
    keep = set(ids[:200]) | set(ids[-50:])
    with open(root / STATE, "wb") as f:
        pickle.dump(
            {
                "truth": synth.truth,
                "edits": synth.edits,
                "n_items": synth.n_items,
                "next_id": synth.next_id,
                "songs": {i: synth.songs[i] for i in ids if i in keep},
                "rng": synth.maker.rng.bit_generator.state,
            },
            f,
        )
    if doc is None:  # built only: the copy is the library as built
        shutil.copyfile(synth.dbpath, root / FIRST_DB)
        return
    shutil.copyfile(synth.dbpath, root / FIRST_DB)
    # Last: its presence says the copy is complete.
    (root / FIRST_JSON).write_text(json.dumps(doc))
    # Written out before the next run is timed: the warm run just after an
    # unwritten copy (1.1 GB at 100,000 items) took 2.2-2.3 s, not 1.7 s.
    os.sync()


def restore_state(root: Path) -> tuple[synthlib.SynthLibrary, dict | None]:
    with open(root / STATE, "rb") as f:
        state = pickle.load(f)
    shutil.copyfile(root / FIRST_DB, root / "library.db")
    # Written out before anything is timed: a first run started while the
    # disk still writes back the fresh copy (890 MB at 100,000 items) took
    # 53-61 s instead of 49 s.
    os.sync()
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    synth = synthlib.SynthLibrary(
        root / "library.db",
        root / "music",
        state["truth"],
        state["edits"],
        state["n_items"],
        state["next_id"],
        synthlib.SongMaker(rng),
        state["songs"],
    )
    first = root / FIRST_JSON
    return synth, json.loads(first.read_text()) if first.exists() else None


def warm_run(configdir: Path, label: str, previous: dict) -> None:
    """One run with nothing changed since `previous`: its cost, and whether
    it lists the same groups."""
    print(load())
    took, memory, out = run_beet(configdir, "dedupfuzzy", "--json")
    doc = json.loads(out)
    same = doc["groups"] == previous["groups"]
    print(
        f"{label} {took}, {memory}, "
        f"{doc['summary']['matched']} matched; same groups: {same}"
    )


def write_config(root: Path, synth: synthlib.SynthLibrary) -> Path:
    configdir = root / "config"
    configdir.mkdir(exist_ok=True)
    (configdir / "config.yaml").write_text(
        f"directory: {synth.musicdir}\nlibrary: {synth.dbpath}\n"
        "plugins: [dedupfuzzy]\ncreate_backup_before_migrations: no\n"
        # The files hold no audio (their fingerprints are adopted); the
        # lossless check has its own benchmark (bench_lossless).
        "dedupfuzzy:\n    check_lossless: no\n"
    )
    return configdir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--flat", action="store_true")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--reuse", type=Path)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-bench-") as tmp:
        if args.reuse and not (args.reuse / FIRST_JSON).exists():
            # Built with --build-only: the first run is measured now.
            root = args.reuse
            synth, _ = restore_state(root)
            configdir = write_config(root, synth)
            print(load())
            first, first_memory, out = run_beet(configdir, "dedupfuzzy", "--json")
            doc = json.loads(out)
            print(f"first run: {first}, {first_memory}; {score(doc, synth)}")
            save_state(root, synth, doc)
        elif args.reuse:
            root = args.reuse
            synth, doc = restore_state(root)
            configdir = write_config(root, synth)
            print(f"reusing {root}: {synth.n_items} items as the first run left them")
        else:
            root = args.keep or Path(tmp)
            root.mkdir(parents=True, exist_ok=True)
            if (root / "library.db").exists():
                raise SystemExit(f"{root} already holds a library")
            t0 = time.perf_counter()
            synth = synthlib.build(root, args.n, flat=1.0 if args.flat else 0.05)
            kind = "flat-profile" if args.flat else "realistic"
            print(f"built {args.n} {kind} items in {time.perf_counter() - t0:.1f} s")
            configdir = write_config(root, synth)
            if args.build_only:
                save_state(root, synth, None)
                return
            print(load())
            first, first_memory, out = run_beet(configdir, "dedupfuzzy", "--json")
            doc = json.loads(out)
            print(f"first run: {first}, {first_memory}; {score(doc, synth)}")
            if args.keep:
                save_state(root, synth, doc)
        for _ in range(2):
            warm_run(configdir, "warm run: ", doc)

        from beets.library import Library

        lib = Library(str(synth.dbpath), str(synth.musicdir))
        items: list[tuple] = []
        for s in list(synth.songs)[-50:]:
            synthlib.add_copy(synth, items, s)
        for _ in range(50):
            synthlib.add_song(synth, items)
        synthlib.insert(lib, items)
        print(load())
        added, added_memory, out3 = run_beet(configdir, "dedupfuzzy", "--json")
        doc3 = json.loads(out3)
        print(
            f"+100 items: {added}, {added_memory}, "
            f"{doc3['summary']['matched']} matched; {score(doc3, synth)}"
        )
        warm_run(configdir, "warm after +100:", doc3)
        loaded, sketching, per, hit = per_item_latency(synth)
        print(
            f"import matching: index load {loaded:.1f} s, "
            f"{per * 1000:.2f} ms per new item ({hit:.0%} found their song; "
            f"its sketch, made with its fingerprint: {sketching * 1000:.2f} ms)"
        )
        print(load())


if __name__ == "__main__":
    main()
