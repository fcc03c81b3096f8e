"""Codec evidence: the quantisation an MDCT codec leaves on its frame grid.

AAC and Vorbis code music as MDCT coefficients of 2048-sample frames every
1024 samples and quantise many of them to zero. Taken again at exactly the
encoder's frame positions, with its window, the MDCT of the decoded file
gives those coefficients back: the zeros reappear, down to the rounding noise
of the 16-bit samples. At any other position they smear into their
neighbours. A genuine recording has no grid: its share of near-zero
coefficients is the same at every position (the idea of Derrien, JAES 2019,
on detecting transcoded lossless files).

Searching all 1024 positions costs too much for a library scan, so only the
positions decoders leave are tried: multiples of 64 samples from the file's
start (AAC decoders that trim the priming put the grid at 0, iTunes' 2112
samples at 64; Vorbis' short blocks move its grid by multiples of 64). The
best of them is compared with the positions halfway between them: music with
a structure of its own (a synthesizer's exact periods) has as many zeros
there, a codec's grid has them at one position only. The first excerpt
decides whether the others are looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

M = 1024  # coefficients per frame; frames are 2M samples long, every M
CANDIDATES = range(0, M, 64)
CONTROLS = range(33, M, 64)  # halfway between the candidates
FRAMES = 6  # frames per excerpt and position
LOW_HZ = 3000.0
# a grid: 3 % more coefficients near zero on it than anywhere off it, on
# average over the excerpts (genuine music: below 1 %; AAC 256 kbps and
# Vorbis q6: 5-40 %); the first excerpt needs 1.5 % for the others to be read
MIN_EXCESS = 0.03
FIRST_EXCESS = 0.015


def _kbd(alpha: float = 4.0) -> np.ndarray:
    kaiser = np.kaiser(M + 1, np.pi * alpha)
    half = np.sqrt(np.cumsum(kaiser[:M]) / kaiser.sum())
    return np.concatenate([half, half[::-1]])


_n = np.arange(2 * M)
WINDOWS = {
    name: window.astype(np.float32)
    for name, window in (
        ("kbd", _kbd()),  # AAC (ffmpeg's encoder, long blocks)
        ("sine", np.sin(np.pi * (_n + 0.5) / (2 * M))),  # AAC
        ("vorbis", np.sin(np.pi / 2 * np.sin(np.pi * (_n + 0.5) / (2 * M)) ** 2)),
    )
}
_j = np.arange(M // 2)
_PRE = np.exp(-1j * np.pi * (_j + 0.25) / M).astype(np.complex64)
_POST = (np.exp(-1j * np.pi * _j / M) * np.sqrt(2 / M)).astype(np.complex64)


@dataclass(frozen=True)
class Grid:
    """The near-zero share of MDCT coefficients on the best grid position,
    and the most found at any position off the grid."""

    on: float
    off: float
    window: str = ""

    @property
    def found(self) -> bool:
        return self.on - self.off >= MIN_EXCESS


NO_GRID = Grid(0.0, 0.0)


def mdct(frames: np.ndarray) -> np.ndarray:
    """Orthonormal MDCT of windowed frames (..., 2M) -> (..., M).

    Folded to M samples, then a DCT-IV computed with one complex FFT of M/2
    points (the textbook fast algorithm).
    """
    h = M // 2
    a, b = frames[..., :h], frames[..., h:M]
    c, d = frames[..., M : M + h], frames[..., M + h :]
    u = np.concatenate([-c[..., ::-1] - d, a - b[..., ::-1]], axis=-1)
    y = np.fft.fft((u[..., 0::2] + 1j * u[..., ::-2]) * _PRE, axis=-1) * _POST
    out = np.empty(u.shape, dtype=np.float32)
    out[..., 0::2] = y.real
    out[..., ::-2] = -y.imag
    return out


def framed(signals: np.ndarray, offsets: range, count: int) -> np.ndarray:
    """Frames of 2M samples every M from each offset (a step dividing M):
    (signals, offsets, frames, 2M), a view on `signals`."""
    windows = np.lib.stride_tricks.sliding_window_view(signals, 2 * M, axis=1)
    s, step, size = windows.strides[0], windows.strides[1], windows.strides[2]
    return np.lib.stride_tricks.as_strided(
        windows[:, offsets.start :],
        shape=(len(signals), len(offsets), count, 2 * M),
        strides=(s, offsets.step * step, M * step, size),
        writeable=False,
    )


def hole_rates(
    frames: np.ndarray, window: np.ndarray, band: slice, tiny: float
) -> np.ndarray:
    """Per offset: the share of MDCT coefficients in `band` below `tiny`."""
    if not frames.shape[2]:
        return np.zeros(frames.shape[1])
    coeffs = mdct(frames * window)[..., band]
    return (np.abs(coeffs) < tiny).mean(axis=(0, 2, 3))


def _excerpt_grid(
    signals: np.ndarray,
    windows: dict[str, np.ndarray],
    band: slice,
    tiny: float,
    controls: range = CONTROLS,
) -> Grid:
    best = NO_GRID
    last = max(CANDIDATES[-1], controls[-1])
    count = max(0, min(FRAMES, (signals.shape[1] - last - 2 * M) // M + 1))
    on_grid = framed(signals, CANDIDATES, count)
    off_grid = framed(signals, controls, count)
    for name, window in windows.items():
        on = float(hole_rates(on_grid, window, band, tiny).max())
        off = float(hole_rates(off_grid, window, band, tiny).max())
        if on - off > best.on - best.off:
            best = Grid(on, off, name)
    return best


def signals_of(part: np.ndarray, lsb: float) -> np.ndarray | None:
    """An excerpt's mid and side signals, (1 or 2, samples), without a
    silent one; None when it is too short or silent."""
    if len(part) < (FRAMES + 2) * M:
        return None
    p = part.astype(np.float32, copy=False)
    mid, side = (p[:, 0] + p[:, 1]) / 2, (p[:, 0] - p[:, 1]) / 2
    # a silent side (mono music) has holes everywhere: it proves nothing
    signals = [x for x in (mid, side) if np.sqrt(np.mean(x * x)) > 4 * lsb]
    return np.stack(signals) if signals else None


def find_grid(
    parts: tuple[np.ndarray, ...], samplerate: int, top_hz: float, bits: int = 16
) -> Grid:
    """Whether an MDCT codec's frame grid shows in the excerpts.

    The excerpts must start on multiples of M samples from the file's start.
    """
    lsb = 2.0 / (1 << bits)
    bin_hz = samplerate / 2 / M
    band = slice(int(LOW_HZ / bin_hz), int(min(top_hz, samplerate / 2) / bin_hz))
    if band.stop - band.start < 32:
        return NO_GRID
    # the excerpts' signals are made as they are needed: most files stop
    # after the first look at the first one
    excerpts = (x for x in (signals_of(p, lsb) for p in parts) if x is not None)
    head = next(excerpts, None)
    if head is None:
        return NO_GRID
    # twice the rounding noise of `bits`-bit samples, in mid or side
    tiny = 2 * lsb / np.sqrt(24)
    # a first look, against every other control: most files end here
    first = _excerpt_grid(head[-1:], WINDOWS, band, tiny, CONTROLS[::2])
    if first.on - first.off < FIRST_EXCESS:
        return first
    window = {first.window: WINDOWS[first.window]}
    found = [_excerpt_grid(x, window, band, tiny) for x in (head, *excerpts)]
    return Grid(
        float(np.mean([g.on for g in found])),
        float(np.mean([g.off for g in found])),
        first.window,
    )
