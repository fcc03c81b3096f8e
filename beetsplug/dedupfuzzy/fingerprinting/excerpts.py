"""Fingerprints of short excerpts of a file, optionally played back at another speed.

fpcalc reads the first two minutes. Whether two copies end alike, and how
alike an off-speed copy sounds once its speed is corrected, needs audio that
fpcalc did not read: a few seconds near the end, or a stretch resampled by a
speed factor. These are decoded by ffmpeg only for the few pairs that need
them (many excerpts per ffmpeg process, one process per core, since starting
ffmpeg costs more than decoding 15 s) and fingerprinted in-process through
pyacoustid's public `acoustid.fingerprint`. Each excerpt is decoded at most
once per run; verdicts built on them are remembered with the pair, so a warm
run decodes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from beets import util

from ..matching import codec
from ..matching.endings import Span

# Chromaprint's own working rate: decoding straight to it saves a resampling.
RATE = 11025
BATCH = 12


@dataclass(frozen=True)
class Excerpt:
    """`seconds` of a file from `start`, played back `speed` times faster.

    With speed 1.008 the excerpt sounds as if a turntable running 0.8 % slow
    had been corrected: shorter by 0.8 % and higher in pitch. Its frames
    start at frame 0 = `start`, in the corrected time scale.
    """

    path: bytes
    start: float
    seconds: float
    speed: float = 1.0

    @classmethod
    def of(cls, path: bytes, start: float, seconds: float, speed: float = 1.0):
        """An excerpt with rounded bounds.

        (0.05 s is less than half a frame; 0.05 % of speed, less than a cent
        of pitch and 10 ms over an excerpt: the alignment absorbs both.)
        """
        return cls(path, round(max(0.0, start), 1), round(seconds, 1), round(speed, 3))

    @property
    def output_rate(self) -> int:
        # Decoded at RATE / speed and fingerprinted as if it were at RATE:
        # time and pitch scale together, as on a turntable.
        return round(RATE / self.speed)


def _excerpt(path: bytes, span: Span) -> Excerpt:
    return Excerpt.of(path, span.start, span.seconds, span.speed)


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def _input_args(ex: Excerpt) -> list[str]:
    return [
        "-ss",
        f"{ex.start:.3f}",
        "-t",
        f"{ex.seconds:.3f}",
        "-i",
        util.syspath(ex.path),
    ]


def _fingerprint(pcm: bytes) -> np.ndarray | None:
    # Imported when an excerpt is fingerprinted: pyacoustid loads requests,
    # a tenth of a second that a run matching a few items need not pay.
    import acoustid

    if len(pcm) < 2 * RATE:  # less than a second of audio
        return None
    try:
        compressed = acoustid.fingerprint(RATE, 1, iter([pcm]))
        return codec.decode(compressed)
    except (acoustid.FingerprintGenerationError, codec.CodecError):
        return None


class ExcerptSource:
    """Decodes and fingerprints excerpts on demand, each at most once.

    `decoded` and `seconds_spent` say what it cost (for the debug log and the
    benchmark); a file ffmpeg cannot read gives None, never an exception.
    """

    def __init__(self, workers: int = 2) -> None:
        self.workers = max(1, workers)
        self._cache: dict[Excerpt, np.ndarray | None] = {}
        self.decoded = 0
        self.seconds_spent = 0.0

    def frames(self, path: bytes, span: Span) -> np.ndarray | None:
        """The frames of `span` of the file (its warm-up dropped), or None."""
        ex = _excerpt(path, span)
        if ex not in self._cache:
            self._decode([ex])
        frames = self._cache.get(ex)
        if frames is None or len(frames) <= span.skip:
            return None
        return span.wanted(frames)

    def holds(self, path: bytes, span: Span) -> bool:
        """Whether this excerpt was decoded already (or found unreadable)."""
        return _excerpt(path, span) in self._cache

    def prefetch(self, wanted: Iterable[tuple[bytes, Span]]) -> None:
        """Decode every excerpt not yet known, in batches, one per worker."""
        self._decode([_excerpt(path, span) for path, span in wanted])

    def _decode(self, excerpts: list[Excerpt]) -> None:
        todo = sorted({ex for ex in excerpts if ex not in self._cache}, key=repr)
        if not todo:
            return
        started = time.perf_counter()
        command = _ffmpeg()
        if command is None:
            self._cache.update(dict.fromkeys(todo))
        else:
            batches = [todo[k : k + BATCH] for k in range(0, len(todo), BATCH)]
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                decoded = pool.map(lambda b: _decode_batch(command, b), batches)
                for batch, results in zip(batches, decoded, strict=True):
                    self._cache.update(zip(batch, results, strict=True))
        self.decoded += len(todo)
        self.seconds_spent += time.perf_counter() - started


def _decode_batch(command: str, batch: list[Excerpt]) -> list[np.ndarray | None]:
    """One ffmpeg run for a batch; file by file when one of them fails."""
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-") as tmp:
        cmd = [command, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        for ex in batch:
            cmd += _input_args(ex)
        outputs = [os.path.join(tmp, f"{k}.raw") for k in range(len(batch))]
        for k, (ex, out) in enumerate(zip(batch, outputs, strict=True)):
            cmd += ["-map", f"{k}:a:0", "-ac", "1", "-ar", str(ex.output_rate)]
            cmd += ["-f", "s16le", out]
        if _run(cmd):
            return [_fingerprint(_read(out)) for out in outputs]
    if len(batch) == 1:
        return [None]
    return [_decode_batch(command, [ex])[0] for ex in batch]


def _run(cmd: list[str]) -> bool:
    try:
        proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
    except OSError:
        return False
    return proc.returncode == 0


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""
