"""Benchmark: the nearest-profile search (`matching/nearest`), exact and by cells.

Usage:
  python bench/bench_nearest.py build NAME N_ITEMS [--flat] [--seed S]
      synthesise N_ITEMS tracks' profiles (no library, no files) from real
      fingerprints as `synthlib` makes them, a chunk at a time, into
      /work/benchdata/nearest/NAME.npz (lengths, bit and repetition profiles)
  python bench/bench_nearest.py compare SOURCE [--exact-cache]
      SOURCE: a NAME built above or a library.db (read only) whose items
      have stored sketches. For both searches (bit profiles, repetition
      profiles) each method runs in its own process: wall and CPU seconds,
      peak memory; then the new search's recall of the exact search's
      pairs, by band of distance.

Run timings under `flock /work/bench.lock`, not niced; the machine's load
is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from beetsplug.dedupfuzzy.matching import repetition as rep  # noqa: E402
from beetsplug.dedupfuzzy.matching.blockindex import (  # noqa: E402
    SketchTable,
    sketch_many,
)
from beetsplug.dedupfuzzy.matching.candidates import (  # noqa: E402
    NEIGHBOURS,
    PROFILE_RADIUS,
)
from beetsplug.dedupfuzzy.matching.nearest import NearestProfiles  # noqa: E402
from beetsplug.dedupfuzzy.matching.similarity import (  # noqa: E402
    FRAME_SECONDS,
    HEAD_FRAMES,
    is_informative,
)

OUT = Path("/work/benchdata/nearest")
TOLERANCE = 5.0  # the default length_tolerance
CHUNK = int(os.environ.get("NEAREST_CHUNK", 20_000))
# Distance bands of the exact pairs, per search: copies lie in the first.
BANDS = {
    "bits": (0.0, 0.45, PROFILE_RADIUS),
    "repetition": (0.0, rep.TWIN, 0.45, rep.RADIUS),
}


def _chunk(n: int, flat: float, seed: int) -> dict[str, np.ndarray]:
    """n tracks as `synthlib.build` makes them (songs, copies, edits, a
    noise-like slice), only their fingerprints' heads: the sketch reads no
    further."""
    import synthlib

    rng = np.random.default_rng(seed)
    maker = synthlib.SongMaker(rng)
    n_copies, n_edits = int(n * 0.1), int(n * 0.01)
    n_songs = n - n_copies - n_edits
    heads, lengths, songs = [], [], []
    extra = 20  # a copy may start up to 16 frames later
    for _ in range(n_songs):
        length = float(np.clip(rng.normal(240, 60), 60, 900))
        n_frames = min(int(length / FRAME_SECONDS), HEAD_FRAMES + extra)
        frames, perm = maker.song(n_frames, bool(rng.random() < flat))
        songs.append((frames, length, perm))
        heads.append(frames)
        lengths.append(length)
    truth = []
    for s in rng.choice(n_songs, n_copies, replace=True).tolist():
        frames, length, perm = songs[s]
        heads.append(maker.copy(frames, perm))
        lengths.append(length + rng.uniform(-1.0, 1.0))
        truth.append((s, len(heads) - 1))
    for s in rng.choice(n_songs, n_edits, replace=False).tolist():
        frames, length, perm = songs[s]
        delta = float(rng.uniform(20, 90)) * (1 if rng.random() < 0.5 else -1)
        heads.append(maker.copy(frames, perm))
        lengths.append(max(length + delta, 121.0))
    data = _profiles([h[:HEAD_FRAMES] for h in heads], lengths)
    data["truth"] = np.array(truth, np.int64).reshape(-1, 2)
    return data


def _offspeed(n: int, seed: int) -> dict[str, np.ndarray]:
    """n songs and an off-speed copy of each (a turntable or tape 0.3-3 %
    off): the song's frames stretched in time, their bits permuted (one
    transform for every frame, as a chroma shift keeps which frames resemble
    which), a real transcode's errors and 5-20 % random bit errors. Their
    repetition profiles lie 0.1-0.5 apart (median 0.2-0.33 as speed errors
    grow), as the test corpus's real off-speed copies do."""
    import synthlib

    rng = np.random.default_rng(seed)
    maker = synthlib.SongMaker(rng)
    heads, lengths = [], []
    for _ in range(n):
        length = float(np.clip(rng.normal(240, 60), 60, 900))
        n_frames = min(int(length / FRAME_SECONDS), HEAD_FRAMES + 200)
        frames, perm = maker.song(n_frames, False)
        speed = 1 + rng.choice([-1, 1]) * rng.uniform(0.003, 0.03)
        copy = maker.copy(frames, perm)
        at = np.floor(np.arange(len(copy)) * speed).astype(np.int64)
        copy = synthlib._permute_bits(copy[at[at < len(copy)]], rng.permutation(32))
        flips = rng.random((len(copy), 32)) < rng.uniform(0.05, 0.2)
        copy ^= (
            (flips.astype(np.uint64) * synthlib._WEIGHTS).sum(axis=1).astype(np.uint32)
        )
        heads += [frames[:HEAD_FRAMES], copy[:HEAD_FRAMES]]
        lengths += [length, length / speed]
    data = _profiles(heads, lengths)
    data["truth"] = np.arange(2 * n, dtype=np.int64).reshape(-1, 2)
    return data


def _profiles(heads: list[np.ndarray], lengths: list[float]) -> dict[str, np.ndarray]:
    """Lengths, bit and repetition profiles of fingerprints' heads, as stored
    (one byte per dimension)."""
    n = len(heads)
    sketches = sketch_many(heads, [is_informative(h) for h in heads])
    bits = np.full((n, 32), np.nan, np.float32)
    reps = np.full((n, rep.DIMS), np.nan, np.float32)
    for i, s in enumerate(sketches):
        if s.profile is not None:
            bits[i] = np.round(s.profile * 255) / 255
        if s.repetition is not None:
            reps[i] = rep.decode(rep.encode(s.repetition))
    return {"lengths": np.array(lengths), "bits": bits, "repetition": reps}


def build(name: str, n: int, flat: float, seed: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    parts = []
    start = time.perf_counter()
    for k in range(0, n, CHUNK):
        part = _chunk(min(CHUNK, n - k), flat, seed * 1_000_003 + k)
        part["truth"] += k
        parts.append(part)
        print(f"{k + CHUNK} tracks, {time.perf_counter() - start:.0f} s", flush=True)
    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    data["ids"] = np.arange(1, n + 1, dtype=np.int64)
    data["truth"] += 1
    np.savez(OUT / f"{name}.npz", **data)


def load(source: str) -> dict[str, np.ndarray]:
    if source.endswith(".db"):
        db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        rows = db.execute(
            "SELECT i.id, i.length, a.value FROM items i LEFT JOIN item_attributes a"
            " ON a.entity_id = i.id AND a.key = 'dedupfuzzy_blocks' ORDER BY i.id"
        ).fetchall()
        db.close()
        table = SketchTable.decode([r[2] for r in rows])
        keep = table.counts > 0
        return {
            "ids": np.array([r[0] for r in rows], np.int64)[keep],
            "lengths": np.array([r[1] for r in rows], np.float64)[keep],
            "bits": table.profiles[keep],
            "repetition": table.repetitions[keep],
        }
    with np.load(OUT / f"{source}.npz") as data:
        return dict(data)


def search(
    data: dict[str, np.ndarray], which: str, exact: bool | None = None
) -> NearestProfiles:
    if which == "bits":
        return NearestProfiles(
            data["ids"], data["lengths"], data["bits"],
            lambda length: TOLERANCE, PROFILE_RADIUS, NEIGHBOURS, exact=exact,
        )  # fmt: skip
    return NearestProfiles(
        data["ids"], data["lengths"], data["repetition"],
        lambda length: rep.window(length, TOLERANCE), rep.RADIUS, rep.NEIGHBOURS,
        rep.TWIN, exact=exact,
    )  # fmt: skip


def with_offspeed(data: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The library plus n songs and their off-speed copies (cached)."""
    path = OUT / f"offspeed{n}.npz"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(path, **_offspeed(n, 99))
    with np.load(path) as extra:
        extra = dict(extra)
    first = int(data["ids"].max()) + 1
    merged = {
        key: np.concatenate([data[key], extra[key]])
        for key in ("lengths", "bits", "repetition")
    }
    merged["ids"] = np.concatenate(
        [data["ids"], np.arange(first, first + len(extra["lengths"]))]
    )
    merged["truth"] = data.get("truth", np.zeros((0, 2), np.int64))
    merged["offspeed"] = extra["truth"] + first
    return merged


def _rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory now, or at its peak (VmHWM: unlike
    getrusage's, it starts afresh at exec, not from the parent's)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(source: str, which: str, method: str, offspeed: int) -> dict:
    """One search, timed in this process: batch pairs, then queries."""
    data = load(source)
    if offspeed:
        data = with_offspeed(data, offspeed)
    loaded = _rss_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    found = search(data, which, exact=method == "exact")
    pairs = np.array(sorted(found.pairs()), np.int64).reshape(-1, 2)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _rss_mib("VmHWM")
    np.save(OUT / f"pairs-{Path(source).stem}-{which}-{method}.npy", pairs)
    # Query mode: one track at a time (an import), the index already built.
    rng = np.random.default_rng(1)
    queries = rng.choice(len(data["ids"]), 300, replace=False)
    profiles = data[which]
    found.query(profiles[queries[0]], float(data["lengths"][queries[0]]))
    start = time.perf_counter()
    for i in queries.tolist():
        if not np.isnan(profiles[i]).any():
            found.query(profiles[i], float(data["lengths"][i]), [int(data["ids"][i])])
    per_query = (time.perf_counter() - start) / len(queries)
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mib": peak,
        "over_data_mib": peak - loaded,
        "query_ms": 1000 * per_query,
        "pairs": len(pairs),
    }


def _distances(data: dict, which: str, pairs: np.ndarray) -> np.ndarray:
    slot = {v: i for i, v in enumerate(data["ids"].tolist())}
    a = np.array([slot[i] for i in pairs[:, 0].tolist()], np.int64)
    b = np.array([slot[i] for i in pairs[:, 1].tolist()], np.int64)
    x = data[which]
    return np.linalg.norm(x[a] - x[b], axis=1)


def recall(data: dict, which: str, exact: np.ndarray, new: np.ndarray) -> list[str]:
    """The new search's share of the exact pairs, by band of distance. A
    pair whose place went to an equally near profile (an identical copy:
    which of them is taken is arbitrary) is counted apart."""
    found = set(map(tuple, new.tolist()))
    dist = _distances(data, which, exact)
    extra = np.array(sorted(found - set(map(tuple, exact.tolist()))), np.int64)
    by_track: dict[int, list[float]] = {}
    if len(extra):
        for (a, b), d in zip(
            extra.tolist(), _distances(data, which, extra), strict=True
        ):
            by_track.setdefault(a, []).append(d)
            by_track.setdefault(b, []).append(d)
    kept = np.array([tuple(p) in found for p in exact.tolist()], bool)
    tied = kept | np.array(
        [
            any(abs(x - d) < 1e-3 for x in by_track.get(a, []) + by_track.get(b, []))
            for (a, b), d in zip(exact.tolist(), dist.tolist(), strict=True)
        ],
        bool,
    )
    lines = []
    bands = BANDS[which]
    for k, (lo, hi) in enumerate(zip(bands[:-1], bands[1:], strict=True)):
        last = k == len(bands) - 2
        inside = (dist >= lo) & ((dist <= hi + 1e-6) if last else (dist < hi))
        m = int(inside.sum())
        lost = int((~kept & inside).sum())
        twinned = int((~kept & tied & inside).sum())
        share = kept[inside].mean() if m else 1.0
        lines.append(
            f"    {lo:.2f}-{hi:.2f}: {m} exact pairs, {share:.5f} kept"
            f" ({lost - twinned} lost, {twinned} taken by an equally near twin)"
        )
    lines.append(f"    pairs the new search adds (other nearest): {len(extra)}")
    return lines


def planted(data: dict, which: str, pairs: np.ndarray) -> str:
    """Planted copies (bits: transcodes; repetition: off-speed copies) found."""
    truth = data["truth"] if which == "bits" else data.get("offspeed")
    if truth is None or not len(truth):
        return ""
    found = set(map(tuple, pairs.tolist()))
    hit = sum((min(a, b), max(a, b)) in found for a, b in truth.tolist())
    kind = "copies" if which == "bits" else "off-speed copies"
    return f"{hit}/{len(truth)} planted {kind}"


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare(source: str, offspeed: int, searches: list[str], skip_exact: bool) -> None:
    data = load(source)
    if offspeed:
        data = with_offspeed(data, offspeed)
    print(f"{source}: {len(data['ids'])} tracks", flush=True)
    for which in searches:
        results = {}
        for method in ("exact", "cells"):
            stem = f"{Path(source).stem}-{which}-{method}"
            if (
                method == "exact"
                and skip_exact
                and (OUT / f"pairs-{stem}.npy").exists()
            ):
                print(f"  {which} exact: pairs from an earlier run", flush=True)
                continue
            before = _load_average()
            out = subprocess.run(
                [sys.executable, __file__, "run", source, which, method,
                 "--offspeed", str(offspeed)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = results[method] = json.loads(out.stdout.splitlines()[-1])
            print(
                f"  {which} {method}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU,"
                f" peak {r['peak_mib']:.0f} MiB ({r['over_data_mib']:.0f} over the"
                f" loaded profiles), {r['pairs']} pairs; query {r['query_ms']:.2f} ms;"
                f" load before {before}, after {_load_average()}",
                flush=True,
            )
        exact = np.load(OUT / f"pairs-{Path(source).stem}-{which}-exact.npy")
        new = np.load(OUT / f"pairs-{Path(source).stem}-{which}-cells.npy")
        got = planted(data, which, exact), planted(data, which, new)
        print(f"  {which}: exact {got[0]}, cells {got[1]}")
        print("\n".join(recall(data, which, exact, new)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("name")
    b.add_argument("n", type=int)
    b.add_argument("--flat", action="store_true")
    b.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("compare")
    c.add_argument("source")
    c.add_argument("--offspeed", type=int, default=2000)
    c.add_argument("--search", default="bits,repetition")
    c.add_argument("--reuse-exact", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("source")
    r.add_argument("which")
    r.add_argument("method")
    r.add_argument("--offspeed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "build":
        build(args.name, args.n, 1.0 if args.flat else 0.05, args.seed)
    elif args.command == "run":
        print(json.dumps(run(args.source, args.which, args.method, args.offspeed)))
    else:
        compare(args.source, args.offspeed, args.search.split(","), args.reuse_exact)


if __name__ == "__main__":
    main()
