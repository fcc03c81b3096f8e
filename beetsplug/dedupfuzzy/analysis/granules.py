"""MP3 evidence: the band above 16 kHz switched off granule by granule.

An MP3 frame codes two granules of 576 samples, each as scalefactor bands;
at 44.1 and 48 kHz the last band (sfb21) starts at 16 kHz and has no
scalefactor of its own. LAME, short of bits or below its hearing threshold,
quantises that whole band to zero in some granules and keeps it in others,
even at V0, where it keeps the whole band on average: decoded, the band just
above 16 kHz sits at the rounding floor for a granule while the band just
below it is full of music, and a moment later both are there again. Genuine
music is continuous across 16 kHz.

Read on a spectrogram with about a granule's resolution (576 samples at
44.1 kHz), a frame *drops at* an edge when the 1.3 kHz below the edge is
well above the floor across most of its bins and the 1.3 kHz above it is at
the floor. Drops at 16 kHz are counted against drops at control edges
around it (14.4, 15.0, 17.0, 17.6 kHz): music whose partials happen to end
somewhere up there (soft synthesizers) drops at every edge alike, MP3 only at
16 kHz. And MP3 keeps the band in other frames as loud as below it; a
genuine recording low-passed at 16 kHz (a mastering filter, a 32 kHz source)
never does, so it is never called fake for its wall alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGE_HZ = 16000.0  # sfb21's lower edge at 44.1 and 48 kHz (lines 418 and 384)
CONTROL_HZ = (14400.0, 15000.0, 17000.0, 17600.0)
GAP_HZ = 100.0  # left out on each side of an edge (the spectrum's own leakage)
SPAN_HZ = 1300.0  # the bands compared below and above an edge
GRANULE = 576  # samples at 44.1 kHz
# the band below an edge holds music: its mean 12 dB over the 16-bit floor,
# 60 % of its bins 6 dB over it; the band above is empty: its mean within
# 2 dB of the floor; kept: within 6 dB of the band below
LOUD_DB = 12.0
DENSE_BIN_DB = 6.0
DENSE_SHARE = 0.6
EMPTY_DB = 2.0
KEPT_DB = 6.0
# a fake: 0.6 % of all frames (and 5 frames) more drops at 16 kHz than at
# any control edge (genuine music on the benchmark: at most 0.1 %, one frame;
# MP3 V0 fakes: median 9 %), and the band kept in 1 % of the frames whose
# band below holds music (a wall keeps it in none)
MIN_EXCESS = 0.006
MIN_DROPS = 5
MIN_KEPT = 0.01


@dataclass(frozen=True)
class Granules:
    """Frames read, drops at 16 kHz, the most at a control edge, and kept
    frames (the band above 16 kHz as loud as below) of those with music."""

    frames: int
    drops: int
    control: int
    kept: int
    loud: int

    @property
    def excess(self) -> float:
        return (self.drops - self.control) / max(self.frames, 1)

    @property
    def found(self) -> bool:
        return (
            self.drops - self.control >= MIN_DROPS
            and self.excess >= MIN_EXCESS
            and self.kept >= MIN_KEPT * self.loud
        )


NO_GRANULES = Granules(0, 0, 0, 0, 0)


def band_power(
    parts: tuple[np.ndarray, ...], samplerate: int, low: float, high: float
) -> tuple[np.ndarray, np.ndarray]:
    """Power of the mid signal per granule-long frame and bin in [low, high),
    in units of the 16-bit rounding floor; and the bins' frequencies."""
    # a granule's length, rounded to a multiple of 64 samples: a size the FFT
    # does fast (576 at 44.1 kHz, 640 at 48, 1280 at 96)
    n = 64 * max(1, round(GRANULE * samplerate / 44100 / 64))
    # float64: numpy's FFT takes 2.5 times longer on float32 frames
    window = np.hanning(n)
    freqs = np.fft.rfftfreq(n, 1 / samplerate)
    band = (freqs >= low) & (freqs < high)
    # 16-bit rounding noise in (left + right) / 2, per bin of this window
    floor = (2.0 / 65536) ** 2 / 12 / 2 * float((window**2).sum())
    powers = []
    for part in parts:
        mid = (part[:, 0] + part[:, 1]) * np.float32(0.5)
        if len(mid) < n:
            continue
        frames = mid[: len(mid) // n * n].reshape(-1, n)
        spec = np.fft.rfft(frames * window, axis=-1)[:, band]
        powers.append((spec.real**2 + spec.imag**2) / floor)
    if not powers:
        return np.zeros((0, int(band.sum()))), freqs[band]
    return np.concatenate(powers), freqs[band]


def drops_at(
    level: np.ndarray, freqs: np.ndarray, edge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: music below `edge`, nothing above it, as much above as below."""
    below = (freqs >= edge - GAP_HZ - SPAN_HZ) & (freqs < edge - GAP_HZ)
    above = (freqs >= edge + GAP_HZ) & (freqs < edge + GAP_HZ + SPAN_HZ)
    low = level[:, below]
    low_db = 10 * np.log10(np.maximum(low.mean(axis=1), 1e-12))
    high_db = 10 * np.log10(np.maximum(level[:, above].mean(axis=1), 1e-12))
    dense = (low > 10 ** (DENSE_BIN_DB / 10)).mean(axis=1) >= DENSE_SHARE
    loud = dense & (low_db > LOUD_DB)
    return loud, loud & (high_db < EMPTY_DB), loud & (high_db > low_db - KEPT_DB)


def find_granules(parts: tuple[np.ndarray, ...], samplerate: int) -> Granules:
    """Whether LAME's band above 16 kHz comes and goes in the excerpts."""
    low = min(CONTROL_HZ) - GAP_HZ - SPAN_HZ
    high = max(CONTROL_HZ) + GAP_HZ + SPAN_HZ
    if samplerate / 2 < high:
        return NO_GRANULES
    level, freqs = band_power(parts, samplerate, low, high)
    if not len(level):
        return NO_GRANULES
    loud, drops, kept = drops_at(level, freqs, EDGE_HZ)
    control = max(int(drops_at(level, freqs, e)[1].sum()) for e in CONTROL_HZ)
    return Granules(
        len(level), int(drops.sum()), control, int(kept.sum()), int(loud.sum())
    )
