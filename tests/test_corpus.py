"""Tests of the synthetic corpus generator in tools/ (synthmusic, corpus)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

import ber_check  # noqa: E402
import corpus  # noqa: E402
import synthmusic  # noqa: E402

SMALL_VARIANTS = ["master", "mp3-128", "aac-trim-start", "radio-edit", "radio-edit-mp3"]
SMALL_EXTRAS = ["silence-flac", "bad-empty-flac", "bad-text-mp3"]


def probe_seconds(path: Path) -> float:
    """The duration ffprobe reports for a file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(json.loads(out.stdout)["format"]["duration"])


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> corpus.Manifest:
    """A two-song corpus with a handful of variants."""
    return corpus.build_corpus(
        tmp_path_factory.mktemp("corpus"),
        n_songs=2,
        seed=3,
        workers=2,
        variants=SMALL_VARIANTS,
        extras=SMALL_EXTRAS,
    )


def test_render_song_is_deterministic_and_seeds_differ() -> None:
    a = synthmusic.render_song(11, 8.0)
    b = synthmusic.render_song(11, 8.0)
    c = synthmusic.render_song(12, 8.0)
    assert a.dtype == np.float32
    assert a.shape == (8 * 44100, 2)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.abs(a).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)


def test_parts_render_instrumental_and_stem() -> None:
    stem = synthmusic.render_song(11, 8.0, parts=("melody",))
    drums = synthmusic.render_song(11, 8.0, parts=("drums",))
    assert stem.shape == drums.shape == (8 * 44100, 2)
    assert not np.allclose(stem, drums)


def test_edits_share_the_start_and_change_the_length() -> None:
    album = synthmusic.song_form(5, 48.0, "album")
    radio = synthmusic.song_form(5, 48.0, "radio")
    extended = synthmusic.song_form(5, 48.0, "extended")
    starts = synthmusic.section_starts(5, album)
    assert radio[:-1] == album[:-2]
    assert extended[: len(album) - 1] == album[:-1]
    assert starts[-2] >= 25.0  # the radio edit departs late in the song
    album_len = synthmusic.arrangement_seconds(5, album)
    assert synthmusic.arrangement_seconds(5, radio) <= album_len - 8
    assert synthmusic.arrangement_seconds(5, extended) >= album_len + 10


def test_files_decode_with_expected_durations(small: corpus.Manifest) -> None:
    audio = small.audio_entries()
    assert len(audio) == 2 * len(SMALL_VARIANTS) + 1
    for entry in audio:
        assert probe_seconds(small.path(entry)) == pytest.approx(
            entry.duration, abs=0.1
        ), entry.relpath


def test_radio_edit_is_a_shorter_other_recording(small: corpus.Manifest) -> None:
    for song in (1, 2):
        by_variant = {e.variant: e for e in small.entries if e.song == song}
        master, radio = by_variant["master"], by_variant["radio-edit"]
        shorter = probe_seconds(small.path(master)) - probe_seconds(small.path(radio))
        assert shorter >= 8.0
        assert radio.recording != master.recording
        assert radio.recording == by_variant["radio-edit-mp3"].recording


def test_true_duplicates_are_exactly_the_same_recording(
    small: corpus.Manifest,
) -> None:
    pairs = corpus.true_duplicate_pairs(small)
    by_path = {e.relpath: e for e in small.entries}
    assert pairs, "a corpus with transcodes has duplicates"
    for a, b in pairs:
        assert by_path[a].recording == by_path[b].recording is not None
    # per song: master, mp3 and trimmed AAC pair up (3 pairs), radio FLAC+MP3 (1)
    assert len(pairs) == 2 * (3 + 1)
    assert all(
        e.recording is None for e in small.entries if e.variant.startswith("bad")
    )


def test_tags_differ_between_copies(small: corpus.Manifest) -> None:
    copies = small.recordings()["song01-album"]
    assert len({json.dumps(e.tags, sort_keys=True) for e in copies}) == len(copies)


def test_second_build_reuses_the_cache(small: corpus.Manifest) -> None:
    before = {e.relpath: small.path(e).stat().st_mtime_ns for e in small.entries}
    again = corpus.build_corpus(
        small.root,
        n_songs=2,
        seed=3,
        workers=2,
        variants=SMALL_VARIANTS,
        extras=SMALL_EXTRAS,
    )
    after = {e.relpath: again.path(e).stat().st_mtime_ns for e in again.entries}
    assert after == before
    assert corpus.load_manifest(small.root).entries == small.entries


def test_changed_parameters_replace_the_old_corpus(tmp_path: Path) -> None:
    first = corpus.build_corpus(tmp_path, 1, seed=1, variants=["master"], extras=[])
    old = first.path(first.entries[0])
    second = corpus.build_corpus(tmp_path, 1, seed=2, variants=["master"], extras=[])
    assert second.params["seed"] == 2
    assert not old.exists() or old == second.path(second.entries[0])
    assert all(second.path(e).exists() for e in second.entries)


def test_ber_matrix_matches_the_plain_definition() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, 300, dtype=np.uint32)
    noise = (rng.random(270) < 0.05).astype(np.uint32) << 7
    fps = [base, base[30:] ^ noise, rng.integers(0, 2**32, 200, dtype=np.uint32)]
    ber, offset = ber_check.ber_matrix(fps)
    for i in range(3):
        for j in range(3):
            value, k = ber_check.bit_error_rate(fps[i], fps[j])
            assert ber[i, j] == pytest.approx(value)
            assert offset[i, j] == k
    assert offset[0, 1] == 30
    assert ber[0, 1] < 0.01 < 0.4 < ber[0, 2]
