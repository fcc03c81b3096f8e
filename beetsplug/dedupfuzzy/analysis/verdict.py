"""From spectra to a verdict: genuine, fake or unknown, with its evidence.

A lossy encoder removes everything above a cutoff it picks from its bitrate
(MP3 128 kbps about 16-17 kHz, 320 kbps about 20 kHz, Opus 20 kHz): decoded
and stored losslessly, the file shows a brick wall, a fall of tens of dB
within a few hundred Hz, and above it an empty band at the quantisation
floor. Recorded music rolls off gradually, or reaches the top of the band.
The verdict says `fake` only on a brick wall below the highest lossy cutoff,
`genuine` only when real content reaches above it, and `unknown` otherwise:
music with nothing up there (soft, quiet, old transfers) cannot tell.

Some encoders keep the whole band (AAC at 256 kbps, Vorbis at q6, LAME at
V0): there the codec's own trace decides. For MP3, the band above 16 kHz
switched off granule by granule (`granules`), looked for at any sample rate;
for AAC and Vorbis, the quantisation left on their MDCT frame grid (`grid`),
looked for in every CD-rate file. Either runs only on files the spectrum did
not already call fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import granules, grid, spectrum
from .labels import FAKE, GENUINE, UNKNOWN

# no lossy encoder keeps content above this (LAME 320 kbps: about 20.2 kHz,
# Opus 20.3 kHz); and none cuts below LOWEST_CUTOFF at the bitrates people
# keep (LAME 64 kbps: 11-14 kHz), so a fall down there is the music's own
LOSSY_CEILING = 20600.0
LOWEST_CUTOFF = 11000.0
# A brick wall: a fall of MIN_DROP_DB onto the 16-bit rounding floor itself
# (within AT_FLOOR_DB); or a fall of DEEP_DROP_DB onto a flat, nearly empty
# band (AAC, Opus and Vorbis leave a little noise above their cutoff). A
# genuine recording brick-walled by a mastering low-pass falls 23-27 dB onto
# the filter's leftovers, several dB above the floor: not enough for either.
MIN_DROP_DB = 20.0
AT_FLOOR_DB = 3.0
DEEP_DROP_DB = 32.0
MAX_EMPTY_SPREAD_DB = 10.0
# On soft music an MP3 encoder's cutoff falls less (15-20 dB): it counts when
# the band just below it is empty in a third of the frames or more (the
# encoder dropped it frame by frame) and the band above is at the floor.
SOFT_DROP_DB = 15.0
SOFT_AT_FLOOR_DB = 1.5
MIN_HOLES = 0.35
# the cutoff an encoder chooses at each bitrate class (LAME, Vorbis, AAC)
CUTOFF_CLASSES = ((15000.0, 96), (16200.0, 112), (17100.0, 128), (18000.0, 160),
                  (19100.0, 192), (19900.0, 256))  # fmt: skip
TOP_CLASS = 320
FULL_BAND_MP3 = 256  # the class of an MP3 that kept the whole band: V0
# source kinds as stored, and in words
GRID_CODECS = {"kbd": "aac", "sine": "aac", "vorbis": "vorbis"}


@dataclass(frozen=True)
class Analysis:
    """What the detector concluded about one file."""

    verdict: str
    cutoff: int = 0  # Hz: where the music stops (0: not measured)
    source_kbps: int = 0  # the lossy source's estimated bitrate class (fakes)
    source_codec: str = ""  # mp3, aac or vorbis when the codec's trace was found
    source_rate: int = 0  # an upsampled file's original sample rate
    error: str = ""
    # not stored: a high-rate file with nothing above the CD band may be a
    # resampled lossy file, whose codec grid is looked for at this rate
    grid_rate: int = 0

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def source_code(self) -> str:
        """The likely source as stored: `lossy-128`, `upsampled-44100` or ""."""
        if self.verdict == FAKE:
            return f"{self.source_codec or 'lossy'}-{self.source_kbps}"
        if self.source_rate:
            return f"upsampled-{self.source_rate}"
        return ""


def source_kbps(cutoff: float) -> int:
    for limit, kbps in CUTOFF_CLASSES:
        if cutoff < limit:
            return kbps
    return TOP_CLASS


def quantisation_floor(n_fft: int, bits: int = 16) -> float:
    """Rounding noise of `bits`-bit samples per bin, two channels, Hann window."""
    lsb = 2.0 / (1 << bits)
    return float(2 * (lsb**2 / 12) * 0.375 * n_fft)


def judge(parts: tuple[np.ndarray, ...], samplerate: int) -> Analysis:
    """The verdict on decoded excerpts (stereo float arrays)."""
    spec = spectrum.spectrogram(parts, samplerate)
    level = spectrum.smooth(spectrum.db(spec.power.mean(axis=0)), 5)
    freqs = spec.freqs
    nyquist = samplerate / 2
    floor = float(spectrum.db(np.array(quantisation_floor(len(freqs) * 2 - 2))))
    if float(np.max(level)) < floor + 20:
        return Analysis(UNKNOWN)
    top = min(nyquist - 800.0, LOSSY_CEILING + 1000.0)
    edge = spectrum.steepest_edge(level, freqs, LOWEST_CUTOFF, top)
    reach = spectrum.reach(level, freqs, floor)
    if (
        edge is not None
        and edge.freq < LOSSY_CEILING
        and is_brick_wall(
            edge, floor, lambda: spectrum.holes(spec.power, freqs, edge.freq, floor)
        )
    ):
        return Analysis(FAKE, round(edge.freq), source_kbps(edge.freq))
    rate = upsampled_from(level, freqs, floor, samplerate)
    if granules.find_granules(parts, samplerate).found:
        top = min(reach, rate / 2) if rate else reach
        # LAME low-passes every CBR rate; a full band is VBR (V0: ~245 kbps)
        kbps = source_kbps(top) if top < LOSSY_CEILING else FULL_BAND_MP3
        return Analysis(FAKE, round(top), kbps, source_codec="mp3")
    if samplerate <= 48000:
        traced = codec_trace(parts, samplerate, reach, bits_of(parts))
        if traced is not None:
            return traced
    return Analysis(
        GENUINE if reach >= LOSSY_CEILING else UNKNOWN,
        round(reach),
        source_rate=rate,
        grid_rate=rate or (44100 if empty_above(level, freqs, floor, 26500) else 0),
    )


def is_brick_wall(
    edge: spectrum.Edge, floor: float, holes: Callable[[], float]
) -> bool:
    """Whether the spectrum's steepest fall is a lossy encoder's cutoff."""
    above = edge.above_top - floor
    if edge.drop >= MIN_DROP_DB and above <= AT_FLOOR_DB:
        return True
    if edge.drop >= DEEP_DROP_DB and (
        edge.above_spread <= MAX_EMPTY_SPREAD_DB or above <= MAX_EMPTY_SPREAD_DB
    ):
        return True
    return (
        edge.drop >= SOFT_DROP_DB and above <= SOFT_AT_FLOOR_DB and holes() >= MIN_HOLES
    )


def codec_trace(
    parts: tuple[np.ndarray, ...], samplerate: int, reach: float, bits: int = 16
) -> Analysis | None:
    """A fake by its codec's frame grid (the band up to `reach`), or None.

    An upsampled file is read back at its source rate first (`rate` of
    decode_excerpts): the grid is on the source's samples.
    """
    found = grid.find_grid(parts, samplerate, max(reach, 8000.0), bits)
    if not found.found:
        return None
    return Analysis(
        FAKE,
        round(reach),
        source_kbps(reach),
        source_codec=GRID_CODECS[found.window],
    )


def bits_of(parts: tuple[np.ndarray, ...]) -> int:
    """16 when the samples are whole 16-bit steps, else 24."""
    sample = parts[0][:: max(1, len(parts[0]) // 4096)] * 32768.0
    return 16 if np.array_equal(sample, np.round(sample)) else 24


def empty_above(level: np.ndarray, freqs: np.ndarray, floor: float, low: float) -> bool:
    """Nothing but the 16-bit floor from `low` up to near the top."""
    top = level[(freqs >= low) & (freqs <= freqs[-1] - 1000)]
    return len(top) > 0 and float(np.percentile(top, 95)) <= floor + 6


def upsampled_from(
    level: np.ndarray, freqs: np.ndarray, floor: float, samplerate: int
) -> int:
    """The CD or DAT rate a high-rate file was made from; 0 if it was not.

    Nothing above 26.5 kHz but the 16-bit floor, while the music is loud
    below 20 kHz: a resampler made this file. Where the music falls 30 dB
    under its 15-20 kHz level tells 44.1 from 48 kHz.
    """
    if samplerate <= 50000 or not empty_above(level, freqs, floor, 26500):
        return 0
    ref = float(np.median(level[(freqs >= 15000) & (freqs < 20000)]))
    if ref < floor + 20:
        return 0
    fallen = freqs[(freqs > 20000) & (level < ref - 30)]
    return 44100 if len(fallen) and fallen[0] < 24800 else 48000
