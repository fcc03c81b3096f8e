"""One decode for a lossless file's fingerprint and its check (fingerprinting/
inprocess.py): the same fingerprint as fpcalc's, the same excerpts as a
plain read, and fpcalc again when libchromaprint is missing."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import acoustid
import numpy as np
import pytest
import synthmusic

from beetsplug.dedupfuzzy.analysis import analyse_file, decode, readers
from beetsplug.dedupfuzzy.fingerprinting import inprocess
from beetsplug.dedupfuzzy.fingerprinting.fpcalc import (
    MAX_SECONDS,
    fingerprint_file,
    fpcalc_command,
)
from beetsplug.dedupfuzzy.fingerprinting.work import Task, run_tasks
from beetsplug.dedupfuzzy.matching import codec
from beetsplug.dedupfuzzy.matching.similarity import align, similarity_from_ber
from beetsplug.dedupfuzzy.settings import MatchSettings

SR = 44100
SECONDS = 20.0


def encode(audio: np.ndarray, dest: Path, *args: str) -> bytes:
    pcm = np.ascontiguousarray(audio, "<f4").tobytes()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR),
         "-ac", str(audio.shape[1]), "-i", "pipe:0", *args, str(dest)],
        input=pcm, check=True, capture_output=True,
    )  # fmt: skip
    return str(dest).encode()


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    return synthmusic.render_song(31, SECONDS)


@pytest.fixture(scope="module")
def files(tmp_path_factory, song) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("inprocess")
    return {
        "cd": encode(song, root / "cd.flac", "-c:a", "flac", "-sample_fmt", "s16"),
        "hires": encode(
            song,
            root / "hires.flac",
            "-ar",
            "96000",
            "-c:a",
            "flac",
            "-sample_fmt",
            "s32",
        ),  # fmt: skip
        "mono": encode(
            song.mean(axis=1, keepdims=True), root / "mono.wav", "-c:a", "pcm_s16le"
        ),
    }


@pytest.mark.parametrize("name", ["cd", "hires", "mono"])
def test_the_fingerprint_matches_fpcalcs_and_the_verdict_is_the_same(files, name):
    path = files[name]
    both = inprocess.fingerprint_and_analyse(path, SECONDS)
    assert both is not None
    mine, analysis = both
    theirs = fingerprint_file(fpcalc_command(), path)
    assert mine.ok and theirs.ok
    assert abs(mine.duration - SECONDS) < 0.01
    a, b = codec.decode(mine.fingerprint), codec.decode(theirs.fingerprint)
    assert abs(len(a) - len(b)) <= 1  # the same span: the whole 20 s
    found = align(a, b, max_shift=4, min_overlap=len(a) // 2)
    assert found is not None and found.shift == 0
    assert similarity_from_ber(found.bit_error_rate) > 0.95
    assert similarity_from_ber(found.bit_error_rate) > MatchSettings().auto_threshold
    assert analysis == analyse_file(path, SECONDS)


@pytest.mark.parametrize("head", [0.0, 4.0, 7.3, 11.0, SECONDS])
def test_excerpts_cut_from_the_head_equal_a_plain_read(files, head):
    """Excerpts inside the streamed head, across its end and after it."""
    plain = readers.read_excerpts(files["cd"], SECONDS)
    assert plain is not None and len(plain.parts) == decode.EXCERPTS
    with readers.open_reader(files["cd"], SECONDS) as reader:
        assert reader is not None
        head_pcm = b"".join(reader.head_blocks(head))
        got = reader.excerpts()
    assert len(head_pcm) == round(head * SR) * 2 * 2
    assert got.samplerate == plain.samplerate
    for mine, theirs in zip(got.parts, plain.parts, strict=True):
        assert np.array_equal(mine, theirs)


def test_a_24_bit_file_read_as_integers_gives_libsndfiles_floats_and_16_bits(files):
    """24-bit samples are read as int32: the excerpts are the floats a float
    read gives, the head the 16 bits libsndfile's own 16-bit read gives."""
    import soundfile

    path = files["hires"]
    floats, rate = soundfile.read(path.decode(), dtype="float32", always_2d=True)
    shorts, _ = soundfile.read(path.decode(), dtype="int16", always_2d=True)
    with readers.open_reader(path, SECONDS) as reader:
        assert reader is not None
        head = np.frombuffer(b"".join(reader.head_blocks(5.0)), "<i2")
        got = reader.excerpts()
    assert np.array_equal(head.reshape(-1, 2), shorts[: round(5.0 * rate)])
    starts = decode.excerpt_starts(SECONDS, rate)
    n = round(decode.EXCERPT_SECONDS * rate)
    for start, part in zip(starts, got.parts, strict=True):
        assert np.array_equal(part, floats[start : start + n])


def test_the_head_is_the_files_first_samples(files, song):
    with readers.open_reader(files["cd"], SECONDS) as reader:
        assert reader is not None
        pcm = next(reader.head_blocks(MAX_SECONDS))
    first = np.frombuffer(pcm, "<i2").reshape(-1, 2)[:1000]
    assert np.array_equal(first, np.round(song[:1000] * 32768).astype(np.int16))


def test_alac_takes_one_ffmpeg_run_for_both(tmp_path, song):
    """libsndfile does not read ALAC: one ffmpeg run gives the head and the
    excerpts, with the same fingerprint and verdict as fpcalc and a
    separate read."""
    alac = encode(song, tmp_path / "song.m4a", "-c:a", "alac")
    assert readers.read_excerpts(alac, SECONDS) is None
    both = inprocess.fingerprint_and_analyse(alac, SECONDS, SR)
    assert both is not None
    mine, analysis = both
    theirs = fingerprint_file(fpcalc_command(), alac)
    a, b = codec.decode(mine.fingerprint), codec.decode(theirs.fingerprint)
    found = align(a, b, max_shift=4, min_overlap=len(a) // 2)
    assert found is not None and found.shift == 0
    assert similarity_from_ber(found.bit_error_rate) > 0.95
    assert analysis.ok and analysis == analyse_file(alac, SECONDS, SR)


def test_a_long_alacs_later_excerpts_come_from_the_same_ffmpeg_run(tmp_path, song):
    """Excerpts after the fingerprint's two minutes are decoded by the same
    ffmpeg run: every excerpt equals a separate read's."""
    seconds = 150.0  # the last excerpt starts before the head's end, ends after it
    audio = np.concatenate([song] * 8)[: round(seconds * SR)]
    alac = encode(audio, tmp_path / "long.m4a", "-c:a", "alac")
    with readers.open_ffmpeg_reader(alac, seconds, SR, MAX_SECONDS, 11025) as reader:
        pcm = b"".join(reader.head_blocks(MAX_SECONDS))
        reader.finish()
        got = reader.excerpts()
    assert (reader.head_rate, reader.head_channels) == (11025, 1)
    assert len(pcm) == MAX_SECONDS * 11025 * 2
    assert reader.duration == seconds
    plain = decode.ffmpeg_excerpts(alac, seconds, SR)
    assert len(got.parts) == len(plain.parts) == decode.EXCERPTS
    last = decode.excerpt_starts(seconds, SR)[-1]
    assert last < MAX_SECONDS * SR < last + len(got.parts[-1])
    for mine, theirs in zip(got.parts, plain.parts, strict=True):
        assert np.array_equal(mine, theirs)


def test_what_ffmpeg_cannot_read_goes_to_fpcalc_which_names_it(tmp_path):
    bad = tmp_path / "broken.m4a"
    bad.write_bytes(b"not audio at all" * 100)
    path = str(bad).encode()
    assert inprocess.fingerprint_and_analyse(path, SECONDS, SR) is None
    (outcome,) = run_tasks([Task(path, True, True, SECONDS, SR)], workers=1)
    assert outcome.fpcalc is not None and outcome.fpcalc.reason == "not audio"
    assert outcome.analysis is None


def test_without_libchromaprint_fpcalc_does_it_and_says_so_once(
    files, monkeypatch, caplog
):
    monkeypatch.setattr(acoustid, "have_chromaprint", False)
    monkeypatch.setattr(inprocess, "_warned", type(inprocess._warned)())
    tasks = [Task(files[n], True, True, SECONDS, SR) for n in ("cd", "hires")]
    with caplog.at_level(logging.WARNING, logger="beets"):
        outcomes = list(run_tasks(tasks, workers=2))
    assert all(o.fpcalc is not None and o.fpcalc.ok for o in outcomes)
    assert all(o.analysis is not None and o.analysis.ok for o in outcomes)
    warnings = [
        r.getMessage() for r in caplog.records if "libchromaprint" in r.getMessage()
    ]
    assert warnings == [inprocess.NO_CHROMAPRINT]
