"""The lossless check's pure parts: the transform, the excerpt grid, the codes."""

from __future__ import annotations

import subprocess

import numpy as np

from beetsplug.dedupfuzzy.analysis import decode, grid, labels


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
    inprocess = decode.read_excerpts(path, 20.0)
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
