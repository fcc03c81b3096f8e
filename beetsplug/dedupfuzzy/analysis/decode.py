"""Decode a few short excerpts of a file at its native sample rate.

One ffmpeg run reads every excerpt (one seeking input each, joined by the
concat filter), so a 4-minute FLAC costs a few seconds of decoding, not four
minutes. Excerpts come back separately: the detector compares them with each
other (an encoder's cutoff moves with the music, a mastering filter does not).
"""

from __future__ import annotations

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


def excerpt_starts(length: float, samplerate: int, count: int = EXCERPTS) -> list[int]:
    """Where the excerpts start, in samples: spread over the track, away
    from its ends, on multiples of GRID so a codec's frame grid keeps its
    place relative to the file's start (see grid.py)."""
    span = EXCERPT_SECONDS
    if length <= span * count:
        return [0]
    starts = []
    for k in range(count):
        centre = length * (k + 1) / (count + 1) - span / 2
        starts.append(round(centre * samplerate / GRID) * GRID)
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


def decode_excerpts(path: bytes, length: float, samplerate: int = 0) -> Excerpts:
    """Decode the excerpts; `samplerate` 0 means ask ffmpeg first."""
    command = ffmpeg_command()
    rate = samplerate or probe_rate(command, path)
    starts = excerpt_starts(length, rate)
    span = EXCERPT_SECONDS if len(starts) > 1 else EXCERPT_SECONDS * EXCERPTS
    cmd = [command, "-nostdin", "-hide_banner", "-loglevel", "error"]
    for start in starts:
        cmd += ["-ss", f"{start / rate:.6f}", "-t", f"{span:.3f}"]
        cmd += ["-i", util.syspath(path)]
    inputs = "".join(f"[{k}:a:0]" for k in range(len(starts)))
    cmd += [
        "-filter_complex",
        f"{inputs}concat=n={len(starts)}:v=0:a=1[out]",
        "-map",
        "[out]",
        "-ac",
        "2",
        "-ar",
        str(rate),
        "-f",
        "f32le",
        "-",
    ]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, stdin=subprocess.DEVNULL, check=False
        )
    except OSError as exc:
        raise DecodeError(f"ffmpeg could not run: {exc.strerror}") from exc
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DecodeError(f"cannot decode: {lines[-1] if lines else 'ffmpeg failed'}")
    samples = np.frombuffer(proc.stdout, dtype="<f4")
    samples = samples[: len(samples) // 2 * 2].reshape(-1, 2)
    if not len(samples):
        raise DecodeError("no audio to analyse")
    n = round(span * rate)
    parts = tuple(samples[k : k + n] for k in range(0, len(samples), n))
    return Excerpts(rate, tuple(p for p in parts if len(p) >= n // 4))
