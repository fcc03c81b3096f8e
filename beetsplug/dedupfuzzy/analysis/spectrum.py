"""Spectra of decoded excerpts, and the features the verdict is made of.

Everything here is plain numpy on arrays: no files, no processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BIN_HZ = 20.0  # about 20 Hz per bin at any sample rate
EPS = 1e-20


@dataclass(frozen=True)
class Spectrogram:
    """Power per frame and bin (summed over channels), and bin frequencies."""

    power: np.ndarray  # (frames, bins)
    freqs: np.ndarray  # (bins,)
    excerpt: np.ndarray  # (frames,) which excerpt each frame comes from


def fft_size(samplerate: int) -> int:
    return 1 << max(8, round(np.log2(samplerate / BIN_HZ)))


def spectrogram(parts: tuple[np.ndarray, ...], samplerate: int) -> Spectrogram:
    n = fft_size(samplerate)
    # float64 throughout: numpy's FFT is about 2.5 times slower on float32
    window = np.hanning(n)
    powers, owners = [], []
    for k, part in enumerate(parts):
        if len(part) < n:
            part = np.pad(part, ((0, n - len(part)), (0, 0)))
        # frames every n samples (averages need no overlap), each channel's
        # windowed in one pass: (frames, channels, n)
        count = len(part) // n
        frames = part[: count * n].reshape(count, n, -1).transpose(0, 2, 1)
        windowed = np.empty(frames.shape)
        np.multiply(frames, window, out=windowed)
        spec = np.fft.rfft(windowed, axis=-1)
        p = (spec.real**2 + spec.imag**2).sum(axis=1)
        powers.append(p)
        owners.append(np.full(len(p), k))
    return Spectrogram(
        np.concatenate(powers),
        np.fft.rfftfreq(n, 1 / samplerate),
        np.concatenate(owners),
    )


def db(x: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(x, EPS))


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """A running mean over `width` bins (same length)."""
    if width <= 1:
        return x
    kernel = np.ones(width) / width
    padded = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


@dataclass(frozen=True)
class Edge:
    """The steepest fall of an average spectrum: where, how deep, what is above."""

    freq: float  # Hz
    drop: float  # dB between the band just below and just above
    above_spread: float  # dB: how much the band above varies (flat = empty)
    above_level: float  # dB: level above the edge, relative to the band below
    above_top: float  # dB: the loudest part of the band above (95th percentile)


def steepest_edge(
    level_db: np.ndarray, freqs: np.ndarray, low: float, high: float
) -> Edge | None:
    """The frequency in [low, high] where the spectrum falls most over ~300 Hz."""
    step = freqs[1] - freqs[0]
    gap = max(1, round(150 / step))
    span = max(2, round(700 / step))
    csum = np.concatenate(([0.0], np.cumsum(level_db)))
    idx = np.arange(len(level_db))
    lo = np.clip(idx - gap - span, 0, len(level_db))
    lo_end = np.clip(idx - gap, 0, len(level_db))
    hi = np.clip(idx + gap, 0, len(level_db))
    hi_end = np.clip(idx + gap + span, 0, len(level_db))
    valid = (lo_end - lo > span // 2) & (hi_end - hi > span // 2)
    valid &= (freqs >= low) & (freqs <= high)
    if not valid.any():
        return None
    below = (csum[lo_end] - csum[lo]) / np.maximum(lo_end - lo, 1)
    above = (csum[hi_end] - csum[hi]) / np.maximum(hi_end - hi, 1)
    drop = np.where(valid, below - above, -np.inf)
    i = int(np.argmax(drop))
    # the band above the edge's transition: empty after an encoder's low-pass
    start = i + round(700 / step)
    rest = level_db[start : start + round(2000 / step)]
    if len(rest) < round(300 / step):
        return None
    return Edge(
        freq=float(freqs[i]),
        drop=float(drop[i]),
        above_spread=float(np.percentile(rest, 95) - np.percentile(rest, 50)),
        above_level=float(np.median(rest) - below[i]),
        above_top=float(np.percentile(rest, 95)),
    )


def reach(level_db: np.ndarray, freqs: np.ndarray, floor_db: float) -> float:
    """The highest frequency whose level stands clearly above the floor."""
    above = np.nonzero(level_db > floor_db + 10.0)[0]
    return float(freqs[above[-1]]) if len(above) else 0.0


def holes(power: np.ndarray, freqs: np.ndarray, edge: float, floor_db: float) -> float:
    """The share of frames whose band just below `edge` is at the rounding
    floor while the band a few kHz lower is not: an encoder that drops its
    top bands frame by frame (MP3 at 128-192 kbps on soft music)."""
    near = (freqs > edge - 1500) & (freqs < edge - 200)
    low = (freqs > edge - 5000) & (freqs < edge - 3000)
    if not near.any() or not low.any():
        return 0.0
    level = db(power)
    below = level[:, near].mean(axis=1)
    lower = level[:, low].mean(axis=1)
    return float(((below < floor_db + 6) & (lower > floor_db + 15)).mean())
