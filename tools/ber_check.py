"""Check that the synthetic corpus looks like real music to Chromaprint.

Fingerprints every file of a corpus with `fpcalc -raw`, then compares every
pair of files by bit error rate (the fraction of differing bits between
aligned 32-bit frames) at the best offset within +-100 frames. It prints, for
each variant, the BER against the master of its song (transcodes of one
recording should land at roughly 0.5-12 %), and for pairs of different
recordings the minimum and median BER by how they are related (different
songs should stay above about 30 %; real music sits at 18-55 %).

Usage: python tools/ber_check.py [CORPUS_DIR] [--songs N] [--workers N]
(the corpus is built first, or reused from its cache).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from corpus import Entry, Manifest, build_corpus

MAX_OFFSET = 100
MIN_OVERLAP = 80
FRAME_SECONDS = 4096 / 3 / 11025  # Chromaprint's hop: a third of 4096 at 11025 Hz
REPO = Path(__file__).resolve().parent.parent


def fingerprint(path: Path, max_seconds: int = 120) -> np.ndarray | None:
    """The raw Chromaprint frames of a file, or None if fpcalc cannot read it.

    fpcalc 1.5.1 built against FFmpeg 5 may exit with status 3 after printing
    a valid fingerprint, so the FINGERPRINT line decides, not the status.
    """
    proc = subprocess.run(
        ["fpcalc", "-raw", "-length", str(max_seconds), str(path)],
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 3):
        return None
    for line in proc.stdout.splitlines():
        if line.startswith("FINGERPRINT="):
            values = line.removeprefix("FINGERPRINT=").strip()
            if not values:
                return None
            return np.array([int(v) for v in values.split(",")], dtype=np.uint32)
    return None


def bit_error_rate(
    a: np.ndarray,
    b: np.ndarray,
    max_offset: int = MAX_OFFSET,
    min_overlap: int = MIN_OVERLAP,
) -> tuple[float, int]:
    """The lowest BER of `b` against `a` over offsets, and that offset.

    Offset k aligns frame i of `b` with frame i + k of `a`. Returns (nan, 0)
    when no offset overlaps by `min_overlap` frames. This is the plain
    definition; `ber_matrix` computes the same for many files at once.
    """
    best, best_k = float("nan"), 0
    for k in range(-max_offset, max_offset + 1):
        lo, hi = max(0, -k), min(len(b), len(a) - k)
        if hi - lo < min_overlap:
            continue
        diff = np.bitwise_count(a[lo + k : hi + k] ^ b[lo:hi]).sum()
        ber = float(diff) / (32 * (hi - lo))
        if not ber >= best:  # also true while best is nan
            best, best_k = ber, k
    return best, best_k


def ber_matrix(
    fps: list[np.ndarray],
    max_offset: int = MAX_OFFSET,
    min_overlap: int = MIN_OVERLAP,
) -> tuple[np.ndarray, np.ndarray]:
    """Best BER and offset for every ordered pair of fingerprints.

    Bits are mapped to +-1, so the sum of products of two aligned frames is
    (agreeing - differing) bits; summed over the overlap that is a
    cross-correlation per bit, which FFTs give for all offsets at once.
    Entry [i, j] compares j against i, as `bit_error_rate(fps[i], fps[j])`.
    """
    n = len(fps)
    lengths = np.array([len(f) for f in fps])
    nfft = 1 << int(2 * lengths.max() + 1).bit_length()
    spectra = np.empty((n, 32, nfft // 2 + 1), dtype=np.complex128)
    for i, fp in enumerate(fps):
        bits = (fp[:, None] >> np.arange(32, dtype=np.uint32)) & 1
        spectra[i] = np.fft.rfft(2.0 * bits.T - 1.0, nfft, axis=1)
    by_freq = spectra.transpose(2, 1, 0)  # (freq, bit, file)
    offsets = np.arange(-max_offset, max_offset + 1)
    ber = np.full((n, n), np.nan)
    best = np.zeros((n, n), dtype=int)
    chunk = 8
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        # cross[f, i, j] = sum over bits of A_i(f) * conj(B_j(f))
        cross = np.matmul(by_freq[:, :, rows].transpose(0, 2, 1), by_freq.conj())
        corr = np.fft.irfft(cross, nfft, axis=0)[offsets % nfft]  # (offset, i, j)
        la = lengths[rows][None, :, None]
        lb = lengths[None, None, :]
        k = offsets[:, None, None]
        overlap = np.minimum(lb, la - k) - np.maximum(0, -k)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (32 * overlap - corr) / (64 * overlap)
        rates[overlap < min_overlap] = np.inf
        idx = rates.argmin(axis=0)
        low = np.take_along_axis(rates, idx[None], axis=0)[0]
        ber[rows] = np.where(np.isfinite(low), low, np.nan)
        best[rows] = np.where(np.isfinite(low), offsets[idx], 0)
    return ber, best


@dataclass(frozen=True)
class Stats:
    """Summary of a list of BER values."""

    count: int
    low: float
    median: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        """Count, minimum, median and maximum, ignoring NaN."""
        arr = np.array([v for v in values if v == v])
        if not len(arr):
            return cls(0, float("nan"), float("nan"), float("nan"))
        return cls(len(arr), arr.min(), float(np.median(arr)), arr.max())


def relation(a: Entry, b: Entry) -> str:
    """How two different recordings are related, for the report's grouping."""
    kinds = {a.recording, b.recording}
    if all(k and k.startswith("silence") for k in kinds):
        return "silence vs silence"
    if any(k and k.startswith("silence") for k in kinds):
        return "silence"
    if any(k and k.startswith("tone") for k in kinds):
        return "tone"
    if a.song != b.song:
        return "other song"
    edits = {r.split("-", 1)[1] for r in kinds if r}  # type: ignore[union-attr]
    names = {
        "radio": "radio edit",
        "extended": "extended mix",
        "introcut": "intro cut",
        "instrumental": "instrumental",
        "stem": "guitar stem",
    }
    if "album" in edits:
        (other,) = edits - {"album"}
        return f"{names[other]} vs album"
    return "same song, two edits"


def report(manifest: Manifest, workers: int = 2) -> str:
    """Fingerprint a corpus and return the BER tables as text."""
    audio = manifest.audio_entries()
    with ThreadPoolExecutor(workers) as pool:
        all_fps = list(
            pool.map(fingerprint, [manifest.path(e) for e in manifest.entries])
        )
    lines = []
    for e, fp in zip(manifest.entries, all_fps, strict=True):
        if e.recording is None:
            got = "no fingerprint" if fp is None else f"{len(fp)} frames"
            lines.append(f"bad file {e.relpath}: fpcalc gives {got}")
    fp_of = dict(zip([e.relpath for e in manifest.entries], all_fps, strict=True))
    missing = [e.relpath for e in audio if fp_of[e.relpath] is None]
    if missing:
        raise RuntimeError(f"fpcalc failed on audio files: {missing}")
    ber, offset = ber_matrix([fp_of[e.relpath] for e in audio])
    index = {e.relpath: i for i, e in enumerate(audio)}

    masters = {e.song: index[e.relpath] for e in audio if e.variant == "master"}
    by_variant: dict[str, list[float]] = defaultdict(list)
    offsets: dict[str, list[int]] = defaultdict(list)
    for e in audio:
        if e.song is None or e.variant == "master":
            continue
        m, i = masters[e.song], index[e.relpath]
        by_variant[e.variant].append(ber[m, i])
        offsets[e.variant].append(int(offset[m, i]))
    lines.append("")
    lines.append("BER vs the master of the same song (same recording = duplicate):")
    lines.append(
        f"  {'variant':<18} {'dup':>3} {'n':>3} {'min':>6} {'median':>6} "
        f"{'max':>6}  offset (frames)"
    )
    kinds = {e.variant: e.recording for e in audio}
    for variant, values in by_variant.items():
        s = Stats.of(values)
        dup = "yes" if kinds[variant] and kinds[variant].endswith("-album") else "no"
        lines.append(
            f"  {variant:<18} {dup:>3} {s.count:>3} {s.low:6.1%} {s.median:6.1%} "
            f"{s.high:6.1%}  {int(np.median(offsets[variant])):+d}"
        )

    groups: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for i, a in enumerate(audio):
        for j in range(i + 1, len(audio)):
            b = audio[j]
            if a.recording == b.recording:
                continue
            value = min(ber[i, j], ber[j, i])
            groups[relation(a, b)].append((value, a.relpath, b.relpath))
    lines.append("")
    lines.append("BER between different recordings (never duplicates):")
    lines.append(
        f"  {'relation':<22} {'pairs':>5} {'min':>6} {'median':>6}  closest pair"
    )
    order = [
        "other song",
        "radio edit vs album",
        "extended mix vs album",
        "intro cut vs album",
        "instrumental vs album",
        "guitar stem vs album",
        "same song, two edits",
        "silence",
        "silence vs silence",
        "tone",
    ]
    for name in sorted(groups, key=lambda g: order.index(g) if g in order else 99):
        pairs = groups[name]
        s = Stats.of([p[0] for p in pairs])
        closest = min(pairs, key=lambda p: p[0] if p[0] == p[0] else 9)
        lines.append(
            f"  {name:<22} {s.count:>5} {s.low:6.1%} {s.median:6.1%}  "
            f"{Path(closest[1]).name} | {Path(closest[2]).name}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: build or reuse a corpus and print its BER report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "corpus_dir", nargs="?", type=Path, default=REPO / ".cache/corpus"
    )
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", help="comma-separated subset of variants")
    args = parser.parse_args(argv)
    variants = args.variants.split(",") if args.variants else None
    start = time.perf_counter()
    manifest = build_corpus(
        args.corpus_dir, args.songs, args.seed, args.workers, variants=variants
    )
    built = time.perf_counter()
    print(
        f"corpus: {len(manifest.entries)} files in {manifest.root} "
        f"({built - start:.1f} s, cached if fast)"
    )
    print(report(manifest, args.workers))
    print(f"\nfingerprints and comparisons: {time.perf_counter() - built:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
