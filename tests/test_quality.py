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
    lossless: str = ""
    likely_source: str = ""


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


def fake(id: int, kbps: int, bitdepth: int = 16, samplerate: int = 44100) -> T:
    return T(id, "FLAC", 900000, bitdepth, samplerate, lossless="fake",
             likely_source=f"lossy-{kbps}")  # fmt: skip


def test_genuine_lossless_beats_a_fake_of_any_resolution():
    genuine = T(1, "FLAC", 900000, 16, lossless="genuine")
    ranked = quality.rank([fake(2, 320, 24, 96000), genuine])
    assert [t.id for t in ranked] == [1, 2]


def test_a_fake_counts_as_lossy_at_its_source_bitrate():
    ranked = quality.rank([fake(1, 128), T(2, "MP3", 320000), T(3, "MP3", 192000)])
    assert [t.id for t in ranked] == [2, 3, 1]
    # equally band-limited: the lossless container wins
    ranked = quality.rank([T(1, "MP3", 320000), fake(2, 320)])
    assert [t.id for t in ranked] == [2, 1]


def test_unknown_keeps_the_benefit_of_the_doubt():
    ranked = quality.rank(
        [T(1, "MP3", 320000), T(2, "FLAC", 0, 16, lossless="unknown")]
    )
    assert ranked[0].id == 2


def test_upsampling_adds_nothing():
    master = T(1, "FLAC", 900000, 16, 44100, lossless="genuine")
    upsampled = T(2, "FLAC", 3000000, 24, 96000, lossless="genuine",
                  likely_source="upsampled-44100")  # fmt: skip
    assert quality.quality_key(master) == quality.quality_key(upsampled)
    real_hires = T(3, "FLAC", 3000000, 24, 96000, lossless="genuine")
    assert quality.rank([master, upsampled, real_hires])[0].id == 3


def test_best_of_each_keeps_the_genuine_copy_and_the_best_lossy_file():
    genuine = T(1, "FLAC", 900000, 16, lossless="genuine")
    ranked = quality.rank([genuine, fake(2, 320), T(3, "MP3", 256000)])
    assert quality.keepers(ranked, "best-of-each") == {1, 3}
    # without a genuine copy a fake made from a good source is the best copy
    ranked = quality.rank([fake(2, 320), T(3, "MP3", 256000)])
    assert quality.keepers(ranked, "best-of-each") == {2, 3}
    ranked = quality.rank([fake(2, 128), T(3, "MP3", 256000)])
    assert quality.keepers(ranked, "best-of-each") == {3}
