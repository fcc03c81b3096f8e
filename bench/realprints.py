"""Real fingerprint material for the benchmarks, taken from the test corpus.

The corpus (`tools/corpus.py`, cached in `.cache/corpus-tests`) holds real
audio: each song's master and many real transcodes of it, plus other
recordings (edits, stems). fpcalc turns them into:

- `sources`: the raw frames of every distinct recording (masters, edits,
  stems...): the statistics synthetic songs are spliced from;
- `errors`: for each transcode, the XOR of its frames and its master's,
  aligned at their best offset: the bit errors a real transcode makes (where
  they fall, in which bits, in runs), to lay over synthetic copies.

The result is cached in `.cache/bench-realprints.npz`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import corpus as corpus_tools  # noqa: E402

from beetsplug.dedupfuzzy.fingerprinting import refresh  # noqa: E402
from beetsplug.dedupfuzzy.fingerprinting.fpcalc import fingerprint_files  # noqa: E402
from beetsplug.dedupfuzzy.matching.similarity import (  # noqa: E402
    align,
    is_informative,
)

CACHE = REPO / ".cache" / "bench-realprints.npz"
CORPUS = REPO / ".cache" / "corpus-tests"
# Copies of one recording that are transcodes of the master (not edits).
TRANSCODES = (
    "mp3-64",
    "mp3-128",
    "mp3-320",
    "mp3-v0",
    "mp3-v6",
    "mp3-minus9db",
    "mp3-lead-silence",
    "aac-128",
    "aac-trim-start",
    "opus-96",
    "vorbis-q3",
    "alac",
    "flac-24-96",
    "remaster",
)


def load() -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(sources, error patterns, the transcode of each pattern)."""
    if CACHE.exists():
        data = np.load(CACHE, allow_pickle=False)
        sources = [data[k] for k in sorted(data.files) if k.startswith("src")]
        errors = [data[k] for k in sorted(data.files) if k.startswith("err")]
        return sources, errors, list(data["kinds"])
    manifest = corpus_tools.build_corpus(CORPUS, n_songs=4, seed=1)
    entries = [e for e in manifest.entries if e.recording is not None]
    paths = {bytes(manifest.path(e)): e for e in entries}
    frames = {}
    for result in fingerprint_files(list(paths), 2):
        f = refresh.frames_of_fingerprint(result.fingerprint) if result.ok else None
        if f is not None and len(f) > 40:
            e = paths[result.path]
            frames[(e.song, e.variant)] = f
    sources, errors, kinds = [], [], []
    for (song, variant), f in sorted(frames.items(), key=lambda kv: str(kv[0])):
        if variant not in TRANSCODES:
            if is_informative(f):  # not the silent tracks or the steady tone
                sources.append(f)
            continue
        master = frames.get((song, "master"))
        if master is None:
            continue
        found = align(master, f, max_shift=100, min_overlap=40)
        if found is None:
            continue
        s = found.shift
        lo, hi = max(0, -s), min(len(master), len(f) - s)
        errors.append(master[lo:hi] ^ f[lo + s : hi + s])
        kinds.append(variant)
    CACHE.parent.mkdir(exist_ok=True)
    arrays = {f"src{k:03d}": a for k, a in enumerate(sources)}
    arrays.update({f"err{k:03d}": a for k, a in enumerate(errors)})
    np.savez(CACHE, kinds=np.array(kinds), **arrays)
    return sources, errors, kinds


if __name__ == "__main__":
    s, e, k = load()
    print(f"{len(s)} sources ({sum(map(len, s))} frames), {len(e)} error patterns")
    for kind, err in zip(k, e, strict=True):
        ber = np.bitwise_count(err).sum() / (32 * len(err))
        print(f"  {kind:18} BER {ber:.3f}")
