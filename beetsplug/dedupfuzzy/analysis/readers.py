"""Excerpt readers: a file's excerpts, with its head streamed on the way.

A file fingerprinted too is streamed from its start by an `ExcerptReader`,
which cuts the excerpts inside the fingerprint's two minutes on the way (see
fingerprinting/inprocess.py), so the fingerprint costs no second decode.
libsndfile reads FLAC, WAV and AIFF in this process (`open_reader`); one
ffmpeg run reads the rest (`open_ffmpeg_reader`). `decode_excerpts` is the
check's way in for a file not fingerprinted in the same pass.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from beets import util

from .decode import (
    EXCERPT_SECONDS,
    EXCERPTS,
    DecodeError,
    Excerpts,
    excerpt_inputs,
    excerpt_starts,
    ffmpeg_command,
    ffmpeg_excerpts,
)

try:
    import soundfile
except (ImportError, OSError):  # not installed, or no libsndfile to load
    soundfile = None

# frames per block of the streamed head (about 3 s at 44.1 kHz)
HEAD_BLOCK = 1 << 17


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
        # what `head_blocks` gives: the file's own rate and channels here
        self.head_rate = samplerate
        self.head_channels = channels
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
    """One ffmpeg run decodes the head once for two outputs: 16-bit mono at
    `head_rate` (`head_blocks`: what Chromaprint works on, resampled by
    ffmpeg as fpcalc has it, which saves Chromaprint's own resampler, most
    of its cost), and 32-bit stereo at the file's rate (exact for 16- and
    24-bit sources, as libsndfile's integer read), streamed to cut the
    excerpts from. Excerpts that end after the head are decoded by the same
    run (seeking inputs joined by concat, into a file read once it ends). A
    file costs one start-up and one decode of its head.
    """

    def __init__(
        self,
        path: bytes,
        length: float,
        samplerate: int,
        head: float,
        head_rate: int,
        tmp: str,
    ) -> None:
        super().__init__(samplerate, 2, length, "int32")
        self.head_rate = head_rate
        self.head_channels = 1
        self._head_file = os.path.join(tmp, "head.s16")
        self._finished = False
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
        outputs += ["-map", "0:a:0", "-ac", "1", "-ar", str(head_rate)]
        outputs += ["-f", "s16le", self._head_file]
        if later:
            starts = [self._starts[k] for k in later]
            inputs, joined = excerpt_inputs(
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

    def head_blocks(self, seconds: float) -> Iterator[bytes]:
        self.finish()
        with open(self._head_file, "rb") as f:
            yield f.read(round(seconds * self.head_rate) * 2)

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
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
    path: bytes, length: float, samplerate: int, head: float, head_rate: int
) -> Iterator[ExcerptReader]:
    """An `ExcerptReader` whose head (the first `head` seconds, mono at
    `head_rate`) and excerpts come from one ffmpeg run, for what libsndfile
    does not read (ALAC, WavPack, APE...)."""
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-") as tmp:
        reader = FfmpegReader(path, length, samplerate, head, head_rate, tmp)
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
