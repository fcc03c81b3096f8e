"""Decode a few short excerpts of a file at its native sample rate.

FLAC, WAV and AIFF files are read in this process by libsndfile (the
`soundfile` package): a seek and a read per excerpt, about 10 ms for a file.
Other formats (ALAC, WavPack, APE), files of more than two channels and
resampled reads take one ffmpeg run (one seeking input per excerpt, joined by
the concat filter); most of its cost is ffmpeg's start-up, which is why it is
not the first choice. Either way a 4-minute file costs a few seconds of
decoding, not four minutes. Excerpts come back separately: the detector
compares them with each other (an encoder's cutoff moves with the music, a
mastering filter does not).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from beets import util

try:
    import soundfile
except (ImportError, OSError):  # not installed, or no libsndfile to load
    soundfile = None

EXCERPTS = 4
EXCERPT_SECONDS = 3.0
# a multiple of every codec frame hop the detector looks at (AAC/Vorbis 1024,
# MP3 576)
GRID = 9216
# samples kept of each resampled excerpt (grid.FRAMES + 2 frames and more)
RESAMPLED = 12288
# the highest rate a codec's grid is looked for at; above it, at CD_RATE
MAX_GRID_RATE = 48000
CD_RATE = 44100
# frames per block of the streamed head (about 3 s at 44.1 kHz)
HEAD_BLOCK = 1 << 17
INSTALL_HINT = "ffmpeg is not installed: install it with 'apt-get install ffmpeg'"


class DecodeError(RuntimeError):
    """The file could not be decoded; the message is one line for the user."""


@dataclass(frozen=True)
class Excerpts:
    """Stereo float excerpts (each of shape (n, 2)) and their sample rate."""

    samplerate: int
    parts: tuple[np.ndarray, ...]


def ffmpeg_command() -> str:
    found = shutil.which("ffmpeg")
    if not found:
        raise DecodeError(INSTALL_HINT)
    return found


def excerpt_starts(
    length: float, samplerate: int, count: int = EXCERPTS, native: int = 0
) -> list[int]:
    """Where the excerpts start, in samples: spread over the track, away
    from its ends, on multiples of GRID so a codec's frame grid keeps its
    place relative to the file's start (see grid.py). Read at another rate
    than the file's `native` one, they also start on a sample of the file."""
    span = EXCERPT_SECONDS
    if length <= span * count:
        return [0]
    step = GRID
    if native and native != samplerate:
        step = math.lcm(GRID, samplerate // math.gcd(samplerate, native))
    elif samplerate > MAX_GRID_RATE:
        # a high-rate file may be upsampled from CD: its excerpts also start
        # on the CD rate's grid, so they can be resampled to it (`resampled`)
        g = math.gcd(samplerate, CD_RATE)
        step = samplerate // g * (GRID // math.gcd(GRID, CD_RATE // g))
    starts = []
    for k in range(count):
        centre = length * (k + 1) / (count + 1) - span / 2
        starts.append(round(centre * samplerate / step) * step)
    return starts


def probe_rate(command: str, path: bytes) -> int:
    """The stream's sample rate, read from ffmpeg's own banner."""
    proc = subprocess.run(
        [command, "-hide_banner", "-nostdin", "-i", util.syspath(path)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    for line in proc.stderr.decode("utf-8", "replace").splitlines():
        if "Audio:" in line and " Hz" in line:
            for field in line.split(","):
                field = field.strip()
                if field.endswith(" Hz"):
                    try:
                        return int(field[:-3])
                    except ValueError:
                        break
    raise DecodeError("no audio stream")


class ExcerptReader:
    """The excerpts read by libsndfile, with the file's first seconds
    streamed on the way (`head_blocks`), so a fingerprint taken from them
    costs no second decode: excerpts inside the head are cut from it.

    Open it with `open_reader`; `excerpts()` reads what the head did not
    cover, whether or not the head was streamed to its end.
    """

    def __init__(self, f: soundfile.SoundFile, length: float) -> None:
        self._f = f
        self.samplerate = f.samplerate
        self.channels = f.channels
        self.frames = f.frames
        self._dtype = read_dtype(f.subtype)
        starts = excerpt_starts(length or f.frames / f.samplerate, f.samplerate)
        n = round(EXCERPT_SECONDS * f.samplerate)
        if len(starts) == 1:
            n *= EXCERPTS
        self._n = n
        self._stops = [min(s + n, f.frames) for s in starts]
        self._pieces: list[list[np.ndarray]] = [[] for _ in starts]
        self._read_to = list(starts)  # how far each excerpt is read

    def head_blocks(self, seconds: float) -> Iterator[bytes]:
        """The first `seconds` as 16-bit interleaved PCM, block by block."""
        end = min(self.frames, round(seconds * self.samplerate))
        pos = 0
        self._f.seek(0)
        while pos < end:
            block = self._f.read(
                min(HEAD_BLOCK, end - pos), dtype=self._dtype, always_2d=True
            )
            if not len(block):
                return
            for k, stop in enumerate(self._stops):
                lo, hi = max(self._read_to[k], pos), min(stop, pos + len(block))
                if lo == self._read_to[k] and lo < hi:
                    self._pieces[k].append(_floats(block[lo - pos : hi - pos]))
                    self._read_to[k] = hi
            pos += len(block)
            yield _int16(block).tobytes()

    def excerpts(self) -> Excerpts:
        """Every excerpt, reading what the head did not give."""
        parts = []
        for k, stop in enumerate(self._stops):
            if self._read_to[k] < stop:
                self._f.seek(min(self._read_to[k], self.frames - 1))
                rest = self._f.read(
                    stop - self._read_to[k], dtype=self._dtype, always_2d=True
                )
                self._pieces[k].append(_floats(rest))
                self._read_to[k] = stop
            part = np.concatenate(self._pieces[k]) if self._pieces[k] else None
            if part is not None and len(part) >= self._n // 4:
                parts.append(np.repeat(part, 2, axis=1) if self.channels == 1 else part)
        if not parts:
            raise DecodeError("no audio to analyse")
        return Excerpts(self.samplerate, tuple(parts))


def read_dtype(subtype: str) -> str:
    """How libsndfile reads a file of this subtype: integer files as the
    integers they store, which give the same floats as a float read (x / 32768
    for 16 bits, x / 2**31 for 24 and 32) and the fingerprint's 16 bits by a
    shift instead of rounding floats (25-30 ms less CPU for a 48 s 24/96 FLAC)."""
    if subtype in ("PCM_16", "PCM_S8", "PCM_U8"):
        return "int16"
    if subtype in ("PCM_24", "PCM_32"):
        return "int32"
    return "float32"


def _floats(block: np.ndarray) -> np.ndarray:
    if block.dtype == np.int16:
        return block.astype(np.float32) / np.float32(32768)
    if block.dtype == np.int32:
        return block.astype(np.float32) * np.float32(2.0**-31)
    return block


def _int16(block: np.ndarray) -> np.ndarray:
    if block.dtype == np.int16:
        return block
    if block.dtype == np.int32:
        # the top 16 bits: libsndfile's own 16-bit read of the file
        return (block >> 16).astype(np.int16)
    return np.clip(np.round(block * 32768), -32768, 32767).astype(np.int16)


# Errors that mean "libsndfile does not read this file": ffmpeg's turn.
READ_ERRORS: tuple[type[Exception], ...] = (RuntimeError, ValueError, OSError)
if soundfile is not None:
    READ_ERRORS = (soundfile.LibsndfileError, *READ_ERRORS)


@contextmanager
def open_reader(path: bytes, length: float) -> Iterator[ExcerptReader | None]:
    """An `ExcerptReader` on the file, or None when libsndfile cannot read
    it (not installed, another format, more than two channels)."""
    if soundfile is None:
        yield None
        return
    try:
        f = soundfile.SoundFile(util.syspath(path))
    except READ_ERRORS:
        yield None
        return
    with f:
        if f.channels > 2 or f.frames <= 0:
            yield None
        else:
            yield ExcerptReader(f, length)


def read_excerpts(path: bytes, length: float) -> Excerpts | None:
    """The excerpts read by libsndfile, or None when it cannot read them."""
    try:
        with open_reader(path, length) as reader:
            return None if reader is None else reader.excerpts()
    except READ_ERRORS:
        return None  # not a format it reads: ffmpeg's turn


def decode_excerpts(
    path: bytes, length: float, samplerate: int = 0, rate: int = 0
) -> Excerpts:
    """Decode the excerpts; `samplerate` 0 means ask ffmpeg first. With
    `rate`, each excerpt is resampled to it on its own (sox's resampler at
    full precision), so an upsampled file is read back at its source rate
    with every excerpt starting on that rate's samples."""
    if not rate or rate == samplerate:
        read = read_excerpts(path, length)
        if read is not None:
            return read
    return ffmpeg_excerpts(path, length, samplerate, rate)


def ffmpeg_excerpts(
    path: bytes, length: float, samplerate: int = 0, rate: int = 0
) -> Excerpts:
    """The excerpts decoded (and resampled to `rate`) by one ffmpeg run."""
    return _ffmpeg_run(path, length, samplerate, rate)[0]


def ffmpeg_excerpts_and_head(
    path: bytes, length: float, samplerate: int, head: float
) -> tuple[Excerpts, bytes]:
    """The excerpts, and the first `head` seconds as 16-bit stereo PCM at
    the file's rate, from the same ffmpeg run (one start-up for both)."""
    return _ffmpeg_run(path, length, samplerate, 0, head)


def _ffmpeg_run(
    path: bytes, length: float, samplerate: int, rate: int, head: float = 0.0
) -> tuple[Excerpts, bytes]:
    command = ffmpeg_command()
    native = samplerate or probe_rate(command, path)
    rate = rate or native
    starts = excerpt_starts(length, rate, native=native)
    span = EXCERPT_SECONDS if len(starts) > 1 else EXCERPT_SECONDS * EXCERPTS
    cmd = [command, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    first = 1 if head else 0  # the head is input 0
    if head:
        cmd += ["-t", f"{head:.3f}", "-i", util.syspath(path)]
    for start in starts:
        cmd += ["-ss", f"{start / rate:.6f}", "-t", f"{span:.3f}"]
        cmd += ["-i", util.syspath(path)]
    resample = f"aresample={rate}:resampler=soxr:precision=28" if rate != native else ""
    ins = range(first, first + len(starts))
    chains = "".join(f"[{k}:a:0]{resample}[r{k}];" if resample else "" for k in ins)
    inputs = "".join(f"[r{k}]" if resample else f"[{k}:a:0]" for k in ins)
    cmd += [
        "-filter_complex",
        f"{chains}{inputs}concat=n={len(starts)}:v=0:a=1[out]",
        "-map",
        "[out]",
        "-ac",
        "2",
        "-ar",
        str(rate),
        "-f",
        "f32le",
        "pipe:1",
    ]
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-") as tmp:
        head_file = os.path.join(tmp, "head.raw")
        if head:
            cmd += ["-map", "0:a:0", "-ac", "2", "-ar", str(native)]
            cmd += ["-f", "s16le", head_file]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, stdin=subprocess.DEVNULL, check=False
            )
        except OSError as exc:
            raise DecodeError(f"ffmpeg could not run: {exc.strerror}") from exc
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else "ffmpeg failed"
            raise DecodeError(f"cannot decode: {last}")
        pcm = b""
        if head:
            with open(head_file, "rb") as f:
                pcm = f.read()
    samples = np.frombuffer(proc.stdout, dtype="<f4")
    samples = samples[: len(samples) // 2 * 2].reshape(-1, 2)
    if not len(samples):
        raise DecodeError("no audio to analyse")
    n = round(span * rate)
    parts = tuple(samples[k : k + n] for k in range(0, len(samples), n))
    return Excerpts(rate, tuple(p for p in parts if len(p) >= n // 4)), pcm


def resampled(excerpts: Excerpts, rate: int) -> Excerpts | None:
    """The excerpts at `rate`, resampled by FFT (band-limited and exact up
    to the new Nyquist frequency), each starting GRID samples after its
    original start and ending before its tapered end, so the edges stay
    out; None when the excerpts
    do not start on `rate`'s samples or are too short."""
    native = excerpts.samplerate
    g = math.gcd(native, rate)
    up, down = rate // g, native // g
    taper = min(4096, native // 10)
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, taper)))[:, None]
    # the grid is read on a few frames after the dropped edge: resample
    # only what it needs
    tail = -(-taper * up // down)  # the end's taper, at `rate`
    need = -(-(RESAMPLED + GRID + tail) // up) * down  # whole blocks of `down`
    parts = []
    for part in excerpts.parts:
        n = min(need, len(part) // down * down)
        m = n * up // down
        if m < RESAMPLED + GRID + tail:
            return None
        x = part[:n].astype(np.float64)
        x[:taper] *= ramp
        x[n - taper :] *= ramp[::-1]
        spectrum = np.fft.rfft(x, axis=0)[: m // 2 + 1]
        y = np.fft.irfft(spectrum, n=m, axis=0) * (m / n)
        parts.append(y[GRID : m - tail].astype(np.float32))
    return Excerpts(rate, tuple(parts))
