"""Which copy is kept."""

from __future__ import annotations

from dataclasses import dataclass

from beetsplug.dedupfuzzy import quality


@dataclass
class T:
    id: int
    format: str
    bitrate: int = 0
    bitdepth: int = 0
    samplerate: int = 44100
    path: bytes = b""


def test_lossless_beats_any_lossy():
    ranked = quality.rank([T(1, "MP3", 320000), T(2, "FLAC", 900000, 16)])
    assert [t.id for t in ranked] == [2, 1]


def test_bit_depth_then_sample_rate_among_lossless():
    ranked = quality.rank(
        [
            T(1, "FLAC", 900000, 16, 44100),
            T(2, "ALAC", 800000, 24, 44100),
            T(3, "FLAC", 3000000, 24, 96000),
        ]
    )
    assert [t.id for t in ranked] == [3, 2, 1]


def test_lossy_bitrate_wins_over_output_sample_rate():
    ranked = quality.rank([T(1, "Opus", 96000, 0, 48000), T(2, "MP3", 320000)])
    assert ranked[0].id == 2


def test_tiebreak_decides_between_equal_copies():
    a, b = T(1, "MP3", 192000, path=b"/a"), T(2, "MP3", 192000, path=b"/b")
    ranked = quality.rank([a, b], tiebreak=lambda t: (t.id,))
    assert ranked[0].id == 2


def test_best_of_each_keeps_one_lossless_and_one_lossy():
    ranked = quality.rank(
        [
            T(1, "MP3", 128000),
            T(2, "FLAC", 900000, 16),
            T(3, "MP3", 320000),
            T(4, "FLAC", 800000, 16),
        ]
    )
    assert quality.keepers(ranked, "best") == {2}
    assert quality.keepers(ranked, "best-of-each") == {2, 3}
