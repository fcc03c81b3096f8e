"""Decode a few short excerpts of a file at its native sample rate.

FLAC, WAV and AIFF files are read in this process by libsndfile (the
`soundfile` package): a seek and a read per excerpt, about 10 ms for a file.
Other formats (ALAC, WavPack, APE), files of more than two channels and
resampled reads take one ffmpeg run (one seeking input per excerpt, joined by
the concat filter); most of its cost is ffmpeg's start-up, which is why it is
not the first choice. Either way a 4-minute file costs a few seconds of
decoding, not four minutes. The readers that stream a file fingerprinted
too, and pick libsndfile or ffmpeg, are in `readers.py`. Excerpts come back
separately: the detector compares them with each other (an encoder's cutoff
moves with the music, a mastering filter does not).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
from beets import util

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


def ffmpeg_excerpts(
    path: bytes, length: float, samplerate: int = 0, rate: int = 0
) -> Excerpts:
    """The excerpts decoded (and resampled to `rate`) by one ffmpeg run."""
    command = ffmpeg_command()
    native = samplerate or probe_rate(command, path)
    rate = rate or native
    starts = excerpt_starts(length, rate, native=native)
    span = EXCERPT_SECONDS if len(starts) > 1 else EXCERPT_SECONDS * EXCERPTS
    inputs, outputs = excerpt_inputs(path, starts, rate, native, span)
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


def excerpt_inputs(
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
