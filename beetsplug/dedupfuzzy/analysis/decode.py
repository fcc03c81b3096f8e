"""Decode a few short excerpts of a file at its native sample rate.

FLAC, WAV and AIFF files are read in this process by libsndfile (the
`soundfile` package): a seek and a read per excerpt, about 10 ms for a file.
Other formats (ALAC, WavPack, APE), files of more than two channels and
resampled reads take one ffmpeg run (one seeking input per excerpt, joined by
the concat filter); most of its cost is ffmpeg's start-up, which is why it is
not the first choice. Either way a 4-minute file costs a few seconds of
decoding, not four minutes. A file fingerprinted too is streamed from its
start by an `ExcerptReader`, which cuts the excerpts inside the fingerprint's
two minutes on the way (see fingerprinting/inprocess.py). Excerpts come back
separately: the detector
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
    """The excerpts of a file, with its first seconds streamed on the way
    (`head_blocks`), so a fingerprint taken from them costs no second
    decode: excerpts inside the head are cut from it.

    `excerpts()` gives every excerpt, reading what the head did not cover,
    whether or not the head was streamed to its end. Two readers share this:
    libsndfile's (`open_reader`: FLAC, WAV, AIFF) and ffmpeg's
    (`open_ffmpeg_reader`: the other formats).
    """

    def __init__(
        self,
        samplerate: int,
        channels: int,
        length: float,
        dtype: str,
        frames: int | None = None,
    ) -> None:
        self.samplerate = samplerate
        self.channels = channels
        self.frames = frames  # None: not known before the stream ends
        self._dtype = dtype
        self._starts = excerpt_starts(length, samplerate)
        n = round(EXCERPT_SECONDS * samplerate)
        if len(self._starts) == 1:
            n *= EXCERPTS
        self._n = n
        self._stops = [s + n if frames is None else min(s + n, frames)
                       for s in self._starts]  # fmt: skip
        self._in_head = [True for _ in self._starts]  # cut from the head if there
        self._pieces: list[list[np.ndarray]] = [[] for _ in self._starts]
        self._read_to = list(self._starts)  # how far each excerpt is read
        self._streamed = 0  # frames of the head streamed so far

    def head_blocks(self, seconds: float) -> Iterator[bytes]:
        """The first `seconds` as 16-bit interleaved PCM, block by block."""
        end = round(seconds * self.samplerate)
        if self.frames is not None:
            end = min(self.frames, end)
        for block in self._head(end):
            self._cut(block)
            yield _int16(block).tobytes()

    def finish(self) -> None:
        """Read what the file still owes once the head is taken (DecodeError
        if it could not be read); nothing for a reader that seeks."""

    def excerpts(self) -> Excerpts:
        """Every excerpt, reading what the head did not give."""
        parts = []
        for k, stop in enumerate(self._stops):
            if self._read_to[k] < stop:
                rest = self._rest(k, self._read_to[k], stop)
                if len(rest):
                    self._pieces[k].append(_floats(rest))
                self._read_to[k] = stop
            part = np.concatenate(self._pieces[k]) if self._pieces[k] else None
            if part is not None and len(part) >= self._n // 4:
                parts.append(np.repeat(part, 2, axis=1) if self.channels == 1 else part)
        if not parts:
            raise DecodeError("no audio to analyse")
        return Excerpts(self.samplerate, tuple(parts))

    @property
    def duration(self) -> float:
        """The file's length in seconds."""
        return (self.frames or self._streamed) / self.samplerate

    def _cut(self, block: np.ndarray) -> None:
        """Keep what this block of the head holds of the excerpts."""
        pos = self._streamed
        for k, stop in enumerate(self._stops):
            lo, hi = max(self._read_to[k], pos), min(stop, pos + len(block))
            if self._in_head[k] and lo == self._read_to[k] and lo < hi:
                self._pieces[k].append(_floats(block[lo - pos : hi - pos]))
                self._read_to[k] = hi
        self._streamed += len(block)

    def _head(self, end: int) -> Iterator[np.ndarray]:
        """The file's frames from where the head stream is to `end`."""
        raise NotImplementedError

    def _rest(self, k: int, start: int, stop: int) -> np.ndarray:
        """Frames `start` to `stop` of excerpt `k`, which the head did not give."""
        raise NotImplementedError


class SoundFileReader(ExcerptReader):
    """Head and excerpts read by libsndfile: a seek and a read each."""

    def __init__(self, f: soundfile.SoundFile, length: float) -> None:
        super().__init__(
            f.samplerate,
            f.channels,
            length or f.frames / f.samplerate,
            read_dtype(f.subtype),
            f.frames,
        )
        self._f = f

    def _head(self, end: int) -> Iterator[np.ndarray]:
        self._f.seek(self._streamed)
        while self._streamed < end:
            block = self._f.read(
                min(HEAD_BLOCK, end - self._streamed),
                dtype=self._dtype,
                always_2d=True,
            )
            if not len(block):
                return
            yield block

    def _rest(self, k: int, start: int, stop: int) -> np.ndarray:
        assert self.frames is not None
        self._f.seek(min(start, self.frames - 1))
        return self._f.read(stop - start, dtype=self._dtype, always_2d=True)


class FfmpegReader(ExcerptReader):
    """The head streamed from one ffmpeg run as 32-bit stereo PCM (exact
    for 16- and 24-bit sources, as libsndfile's integer read); excerpts that
    end after the head are decoded by the same run (seeking inputs joined by
    concat, into a file read once it ends). A file costs one start-up and
    one decode of its head, not a second decode of the excerpts in it.
    """

    def __init__(
        self, path: bytes, length: float, samplerate: int, head: float, tmp: str
    ) -> None:
        super().__init__(samplerate, 2, length, "int32")
        self._length = length
        self._head_end = round(head * samplerate)
        # excerpts that end after the head come whole from their own inputs
        later = [k for k, stop in enumerate(self._stops) if stop > self._head_end]
        for k in later:
            self._in_head[k] = False
        self._later: dict[int, np.ndarray] = {}
        self._later_order = later
        self._later_file = os.path.join(tmp, "later.f32")
        cmd = [ffmpeg_command(), "-nostdin", "-hide_banner", "-loglevel", "error"]
        cmd += ["-y", "-t", f"{head:.3f}", "-i", util.syspath(path)]
        outputs = ["-map", "0:a:0", "-ac", "2", "-ar", str(samplerate)]
        outputs += ["-f", "s32le", "pipe:1"]
        if later:
            starts = [self._starts[k] for k in later]
            inputs, joined = _excerpt_inputs(
                path, starts, samplerate, samplerate, self._n / samplerate, first=1
            )
            cmd += inputs
            outputs += [*joined, self._later_file]
        self._errors = open(os.path.join(tmp, "errors.txt"), "w+b")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                cmd + outputs,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._errors,
            )
        except OSError as exc:
            self._errors.close()
            raise DecodeError(f"ffmpeg could not run: {exc.strerror}") from exc

    @property
    def duration(self) -> float:
        return self._length or self._streamed / self.samplerate

    def _head(self, end: int) -> Iterator[np.ndarray]:
        stdout = self._proc.stdout
        assert stdout is not None
        while self._streamed < end:
            frames = min(HEAD_BLOCK, end - self._streamed)
            data = stdout.read(frames * 8)
            if len(data) < 8:
                return
            yield np.frombuffer(data, "<i4", len(data) // 8 * 2).reshape(-1, 2)

    def finish(self) -> None:
        for block in self._head(self._head_end):
            self._cut(block)
        if self._proc.wait() != 0:
            self._errors.seek(0)
            lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else "ffmpeg failed"
            raise DecodeError(f"cannot decode: {last}")
        if self._later_order:
            try:
                samples = np.fromfile(self._later_file, dtype="<f4")
            except OSError:
                samples = np.zeros(0, np.float32)
            samples = samples[: len(samples) // 2 * 2].reshape(-1, 2)
            for i, k in enumerate(self._later_order):
                self._later[k] = samples[i * self._n : (i + 1) * self._n]

    def _rest(self, k: int, start: int, stop: int) -> np.ndarray:
        # an excerpt of the head that the stream did not reach: the file
        # ended before it
        return self._later.get(k, np.zeros((0, 2), np.float32))

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._errors.close()


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
            yield SoundFileReader(f, length)


@contextmanager
def open_ffmpeg_reader(
    path: bytes, length: float, samplerate: int, head: float
) -> Iterator[ExcerptReader]:
    """An `ExcerptReader` whose head (the first `head` seconds) and excerpts
    come from one ffmpeg run, for what libsndfile does not read (ALAC,
    WavPack, APE...); its start-up is most of a short file's cost."""
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-") as tmp:
        reader = FfmpegReader(path, length, samplerate, head, tmp)
        try:
            yield reader
        finally:
            reader.close()


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
    command = ffmpeg_command()
    native = samplerate or probe_rate(command, path)
    rate = rate or native
    starts = excerpt_starts(length, rate, native=native)
    span = EXCERPT_SECONDS if len(starts) > 1 else EXCERPT_SECONDS * EXCERPTS
    inputs, outputs = _excerpt_inputs(path, starts, rate, native, span)
    cmd = [command, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    try:
        proc = subprocess.run(
            [*cmd, *inputs, *outputs, "pipe:1"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        raise DecodeError(f"ffmpeg could not run: {exc.strerror}") from exc
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else "ffmpeg failed"
        raise DecodeError(f"cannot decode: {last}")
    samples = np.frombuffer(proc.stdout, dtype="<f4")
    samples = samples[: len(samples) // 2 * 2].reshape(-1, 2)
    if not len(samples):
        raise DecodeError("no audio to analyse")
    n = round(span * rate)
    parts = tuple(samples[k : k + n] for k in range(0, len(samples), n))
    return Excerpts(rate, tuple(p for p in parts if len(p) >= n // 4))


def _excerpt_inputs(
    path: bytes, starts: list[int], rate: int, native: int, span: float, first: int = 0
) -> tuple[list[str], list[str]]:
    """ffmpeg's inputs for excerpts of `span` seconds from `starts` (samples
    at `rate`; the inputs numbered from `first`), and the output options that
    join them (concat) as stereo float at `rate`: resampled each on its own
    when `rate` is not the file's `native` one."""
    inputs = []
    for start in starts:
        inputs += ["-ss", f"{start / rate:.6f}", "-t", f"{span:.3f}"]
        inputs += ["-i", util.syspath(path)]
    resample = f"aresample={rate}:resampler=soxr:precision=28" if rate != native else ""
    ins = range(first, first + len(starts))
    chains = "".join(f"[{k}:a:0]{resample}[r{k}];" if resample else "" for k in ins)
    joined = "".join(f"[r{k}]" if resample else f"[{k}:a:0]" for k in ins)
    outputs = [
        "-filter_complex",
        f"{chains}{joined}concat=n={len(starts)}:v=0:a=1[out]",
        "-map",
        "[out]",
        "-ac",
        "2",
        "-ar",
        str(rate),
        "-f",
        "f32le",
    ]
    return inputs, outputs


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
