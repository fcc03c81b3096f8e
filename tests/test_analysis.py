"""The lossless check's pure parts: the transform, the excerpt grid, the codes."""

from __future__ import annotations

import subprocess

import numpy as np

from beetsplug.dedupfuzzy.analysis import decode, granules, grid, labels, readers


def test_fast_mdct_equals_the_definition():
    m = grid.M
    x = np.random.default_rng(1).standard_normal((2, 2 * m))
    n, k = np.arange(2 * m), np.arange(m)
    basis = np.cos(np.pi / m * (n[None, :] + 0.5 + m / 2) * (k[:, None] + 0.5))
    assert np.allclose(grid.mdct(x), x @ (basis.T * np.sqrt(2 / m)), atol=1e-4)


def test_quantised_mdct_coefficients_show_their_grid_and_noise_does_not():
    """Coefficients zeroed on a 1024-sample grid (as an AAC encoder does)
    reappear as zeros only at that grid, after 16-bit rounding."""
    rng = np.random.default_rng(2)
    m, frames = grid.M, 40
    coeffs = rng.standard_normal((frames, m)) * 0.01
    coeffs[:, 300:] *= rng.random((frames, m - 300)) < 0.3  # most of the top: 0
    window = grid.WINDOWS["kbd"]
    n, k = np.arange(2 * m), np.arange(m)
    basis = np.cos(np.pi / m * (n[:, None] + 0.5 + m / 2) * (k[None, :] + 0.5))
    signal = np.zeros((frames + 1) * m)
    for f in range(frames):  # inverse MDCT, windowed overlap-add
        signal[f * m : f * m + 2 * m] += window * (basis @ coeffs[f]) * np.sqrt(2 / m)
    signal = np.round(signal[m:-m] * 32768) / 32768  # the decoder's grid starts at 0
    stereo = np.stack([signal, signal], axis=1)
    parts = (stereo[: 12 * m], stereo[12 * m : 24 * m])
    assert grid.find_grid(parts, 44100, 20000).found
    noise = np.round(rng.standard_normal(stereo.shape) * 0.01 * 32768) / 32768
    assert not grid.find_grid(
        (noise[: 12 * m], noise[12 * m : 24 * m]), 44100, 20000
    ).found


def test_excerpts_start_on_the_codec_grid():
    starts = decode.excerpt_starts(240.0, 44100)
    assert len(starts) == decode.EXCERPTS
    assert all(s % 1024 == 0 and s % 576 == 0 for s in starts)
    assert starts == sorted(starts) and starts[-1] < 240.0 * 44100
    assert decode.excerpt_starts(8.0, 44100) == [0]


def test_source_codes_read_back():
    assert labels.parse_source("lossy-128") == (128, 0)
    assert labels.parse_source("aac-256") == (256, 0)
    assert labels.parse_source("upsampled-44100") == (0, 44100)
    assert labels.parse_source("") == (0, 0)
    assert labels.describe_source("vorbis-192") == "Vorbis ~192 kbps"
    assert labels.describe_source("mp3-320") == "MP3 ~320 kbps"
    assert labels.describe_source("upsampled-48000") == "upsampled from 48 kHz"


def test_libsndfile_and_ffmpeg_read_the_same_excerpts(tmp_path):
    """FLAC is read in-process; the samples (and so the codec grid's place)
    are those ffmpeg decodes."""
    rng = np.random.default_rng(3)
    audio = np.round(rng.standard_normal((20 * 44100, 2)) * 3000) / 32768
    flac = tmp_path / "noise.flac"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "f32le", "-ar", "44100",
         "-ac", "2", "-i", "pipe:0", "-c:a", "flac", "-sample_fmt", "s16",
         str(flac)],
        input=audio.astype("<f4").tobytes(), check=True,
    )  # fmt: skip
    path = str(flac).encode()
    inprocess = readers.read_excerpts(path, 20.0)
    assert inprocess is not None and len(inprocess.parts) == decode.EXCERPTS
    other = decode.ffmpeg_excerpts(path, 20.0, 44100)
    assert inprocess.samplerate == other.samplerate == 44100
    for mine, theirs in zip(inprocess.parts, other.parts, strict=True):
        assert np.array_equal(mine, theirs)
    start = decode.excerpt_starts(20.0, 44100)[1]
    assert np.array_equal(
        inprocess.parts[1], audio[start : start + len(other.parts[1])]
    )


def test_a_high_rate_file_is_read_back_on_the_cd_rate_samples():
    """Excerpts of a 96 kHz file start on 44.1 kHz samples that are on the
    codec grid, and resampling gives those samples back."""
    starts = decode.excerpt_starts(240.0, 96000)
    assert all(s * 44100 % 96000 == 0 for s in starts)
    assert all((s * 44100 // 96000) % decode.GRID == 0 for s in starts)
    t = np.arange(3 * 44100) / 44100
    cd = np.stack([np.sin(2 * np.pi * f * t) for f in (997.0, 15013.0)], axis=1) / 4
    spectrum = np.fft.rfft(cd, axis=0)
    hi = np.fft.irfft(spectrum, n=3 * 96000, axis=0) * (96000 / 44100)
    back = decode.resampled(decode.Excerpts(96000, (hi.astype(np.float32),)), 44100)
    assert back is not None and back.samplerate == 44100
    part = back.parts[0]
    expected = cd[decode.GRID : decode.GRID + len(part)]
    assert np.max(np.abs(part - expected)) < 1e-4


def _blocks_without_top(audio: np.ndarray, dropped: np.ndarray, offset: int) -> None:
    """Zero everything above 16 kHz in the chosen 576-sample blocks (as LAME
    zeroes its top scalefactor band in a granule), in place."""
    n = granules.GRANULE
    top = np.fft.rfftfreq(n, 1 / 44100) >= granules.EDGE_HZ
    for k, drop in enumerate(dropped):
        block = audio[offset + k * n : offset + (k + 1) * n]
        if drop and len(block) == n:
            spec = np.fft.rfft(block, axis=0)
            spec[top] = 0
            block[:] = np.fft.irfft(spec, n=n, axis=0)


def _excerpts(audio: np.ndarray) -> tuple[np.ndarray, ...]:
    audio = np.round(audio * 32768) / 32768  # stored as 16-bit samples
    n = 3 * 44100
    return tuple(audio[k : k + n].astype(np.float32) for k in range(0, 4 * n, n))


def test_a_top_band_switched_off_granule_by_granule_is_mp3_and_a_wall_is_not():
    rng = np.random.default_rng(4)
    # white noise 27 dB over the 16-bit rounding floor in every bin: soft
    # high-frequency music, where LAME switches its top band on and off
    noise = rng.standard_normal((12 * 44100 + 1000, 2)) * 2e-4
    blocks = len(noise) // granules.GRANULE
    assert not granules.find_granules(_excerpts(noise), 44100).found

    mp3 = noise.copy()  # the band above 16 kHz gone in half the granules
    _blocks_without_top(mp3, rng.random(blocks) < 0.5, offset=0)
    found = granules.find_granules(_excerpts(mp3), 44100)
    assert found.found and found.control < found.drops / 10

    # a genuine recording low-passed at 16 kHz in every granule: every frame
    # drops, but the band never comes back: a wall, not an encoder's choice
    wall = noise.copy()
    _blocks_without_top(wall, np.ones(blocks, dtype=bool), offset=0)
    walled = granules.find_granules(_excerpts(wall), 44100)
    assert walled.drops > walled.frames / 3 and walled.kept == 0
    assert not walled.found
