"""Benchmark: the candidate search for off-speed copies, beyond one small library.

Usage: python bench/bench_speed_search.py [N_SYNTHETIC]   (default 50000)

1. **Recall in a larger library**: the whole-recording cases of 30 generated
   songs (`.cache/corpus-cases`, 6 songs, as `bench_corpus.py --cases`, plus
   `.cache/corpus-speed-eval`, 24 more) and the 87-file test corpus; for each
   case, one library of every song's master and MP3 (where built), the test
   corpus and that case's copies. Prints how many copies the candidate search
   proposes together with their master or its MP3 (batch mode, in process:
   the search alone, the verifier is `bench_corpus.py --cases`' business).
2. **Cost at scale**: N fingerprints built like `bench_scale.py`'s (`synthlib`:
   spliced real prints, 10 % planted copies), their sketches, the batch
   search, how many pairs the repetition search adds and what verifying them
   costs (a straight alignment and a drift fit, as the verifier does for a
   weak pair).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import cases  # noqa: E402
import corpus as corpus_tools  # noqa: E402
import synthlib  # noqa: E402

from beetsplug.dedupfuzzy.fingerprinting import refresh  # noqa: E402
from beetsplug.dedupfuzzy.fingerprinting.fpcalc import fingerprint_files  # noqa: E402
from beetsplug.dedupfuzzy.matching import blockindex, similarity  # noqa: E402
from beetsplug.dedupfuzzy.matching.candidates import CandidateIndex  # noqa: E402

SPEED_CASES = ["pregap-8s", "speed+0.3", "speed-0.8", "speed+2", "speed-2"]
OTHER_CASES = ["key+2", "live"]


def corpora() -> list[corpus_tools.Manifest]:
    duration = cases.MIN_SECONDS + 10
    return [
        corpus_tools.build_corpus(
            REPO / ".cache" / "corpus-cases",
            n_songs=6,
            variants=["master", "mp3-320", *corpus_tools.CASE_NAMES],
            extras=[],
            duration=duration,
        ),
        corpus_tools.build_corpus(
            REPO / ".cache" / "corpus-speed-eval",
            n_songs=24,
            seed=2,
            variants=["master", *SPEED_CASES, *OTHER_CASES],
            extras=[],
            duration=duration,
        ),
        corpus_tools.build_corpus(REPO / ".cache" / "corpus-tests", n_songs=4),
    ]


def sketches_of(manifest: corpus_tools.Manifest) -> list[tuple]:
    """(song seed, variant, length, sketch, is the test corpus) per file."""
    seeds = {s.song: s.seed for s in manifest.songs}
    entries = {bytes(manifest.path(e)): e for e in manifest.entries}
    out = []
    for result in fingerprint_files(list(entries), os.cpu_count() or 1):
        e = entries[result.path]
        if not result.ok:
            continue
        frames = refresh.frames_of_fingerprint(result.fingerprint)
        if frames is None:
            continue
        s = blockindex.sketch(frames, similarity.is_informative(frames))
        tests = manifest.params["duration"] < cases.MIN_SECONDS
        out.append((seeds.get(e.song), e.variant, result.duration, s, tests))
    return out


def recall_in_a_larger_library() -> None:
    items = [x for m in corpora() for x in sketches_of(m)]
    print("case        proposed with their master  (library size)")
    for case in SPEED_CASES + OTHER_CASES:
        chosen = [x for x in items if x[1] in ("master", "mp3-320", case) or x[4]]
        index = CandidateIndex.of(
            range(len(chosen)), [x[2] for x in chosen], [x[3] for x in chosen], 5.0
        )
        near: dict[int, set[int]] = {}
        for a, b in index.pairs().pairs:
            near.setdefault(a, set()).add(b)
            near.setdefault(b, set()).add(a)
        copies = [i for i, x in enumerate(chosen) if x[1] == case and not x[4]]
        found = sum(
            any(
                chosen[j][0] == chosen[i][0]
                and chosen[j][1] in ("master", "mp3-320")
                and not chosen[j][4]
                for j in near.get(i, ())
            )
            for i in copies
        )
        print(f"{case:11} {found:>3}/{len(copies):<3} {'':22} ({len(chosen)})")


def cost_at_scale(n: int) -> None:
    rng = np.random.default_rng(7)
    maker = synthlib.SongMaker(rng)
    frames, lengths, songs = [], [], []
    for _ in range(n):
        if songs and rng.random() < 0.1:
            # A planted copy (a transcode), as in bench_scale: copies' profiles
            # are twins, which the repetition search counts as one place.
            f, perm, length = songs[int(rng.integers(len(songs)))]
            frames.append(maker.copy(f, perm))
            lengths.append(length)
            continue
        length = float(np.clip(rng.normal(240, 60), 60, 900))
        f, perm = maker.song(synthlib._frames_for(length), bool(rng.random() < 0.05))
        frames.append(f)
        lengths.append(length)
        songs.append((f, perm, length))
    t0 = time.process_time()
    sketches = [blockindex.sketch(f, similarity.is_informative(f)) for f in frames]
    sketch_s = time.process_time() - t0
    index = CandidateIndex.of(range(n), lengths, sketches, 5.0)
    t0 = time.process_time()
    added = index._speed.pairs()
    search_s = time.process_time() - t0
    others = index.pairs().pairs
    new = sorted(added - index._near.pairs())
    sample = new[:2000]
    t0 = time.process_time()
    steady = 0
    for a, b in sample:
        found = similarity.align(frames[a], frames[b], max_shift=97, min_overlap=161)
        if found is None or found.similarity < 0.77:
            drift = similarity.fit_drift(frames[a], frames[b], 97)
            steady += drift is not None and drift.is_speed_error
    verify_ms = (time.process_time() - t0) / max(1, len(sample)) * 1000
    print(
        f"{n} synthetic tracks: sketches {sketch_s / n * 1000:.2f} ms each; "
        f"repetition search {search_s:.1f} s CPU, {len(added)} pairs "
        f"({len(added) / n:.2f} per track) of {len(others)} candidate pairs; "
        f"verifying one of them {verify_ms:.2f} ms CPU "
        f"({steady} of {len(sample)} drifted steadily)"
    )


if __name__ == "__main__":
    print(f"load average: {os.getloadavg()}")
    recall_in_a_larger_library()
    cost_at_scale(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
