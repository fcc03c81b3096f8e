"""How fpcalc's answers are read: exit codes, errors, missing program."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from beets.library import Item, Library

from beetsplug.dedupfuzzy.fingerprinting import fpcalc
from beetsplug.dedupfuzzy.importing.fingerprints import FingerprintSource


def fake_fpcalc(tmp_path: Path, stdout: str, stderr: str, code: int) -> str:
    """A stand-in for fpcalc that prints what it is told and exits with `code`."""
    script = tmp_path / "fpcalc"
    script.write_text(
        f"#!/bin/sh\nprintf '{stdout}'\nprintf '{stderr}' >&2\nexit {code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture
def audio(tmp_path: Path) -> bytes:
    path = tmp_path / "song.flac"
    path.write_bytes(b"not empty")
    return os.fsencode(path)


def test_exit_3_with_a_fingerprint_is_a_success(tmp_path, audio):
    cmd = fake_fpcalc(
        tmp_path,
        "DURATION=48\\nFINGERPRINT=AQAAEA\\n",
        "ERROR: Error decoding audio frame (End of file)\\n",
        3,
    )
    result = fpcalc.fingerprint_file(cmd, audio)
    assert result.ok and result.fingerprint == "AQAAEA" and result.duration == 48


def test_failure_gives_a_reason_on_one_line(tmp_path, audio):
    cmd = fake_fpcalc(tmp_path, "", "ERROR: Could not open the input file\\n", 2)
    result = fpcalc.fingerprint_file(cmd, audio)
    assert not result.ok
    assert result.error == "not audio"


def test_an_empty_fingerprint_means_too_short(tmp_path, audio):
    cmd = fake_fpcalc(
        tmp_path,
        "",
        "ERROR: Error decoding audio frame (End of file)\\nERROR: Empty fingerprint\\n",
        3,
    )
    assert fpcalc.fingerprint_file(cmd, audio).error == "too short to fingerprint"


def test_an_unknown_failure_keeps_fpcalcs_own_words(tmp_path, audio):
    cmd = fake_fpcalc(tmp_path, "", "ERROR: Something odd\\n", 2)
    assert fpcalc.fingerprint_file(cmd, audio).error == "unreadable: Something odd"


def test_missing_and_empty_files_are_not_handed_to_fpcalc(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    missing = os.fsencode(tmp_path / "gone.mp3")
    folder = os.fsencode(tmp_path)
    assert fpcalc.fingerprint_file("false", os.fsencode(empty)).error == "empty file"
    assert fpcalc.fingerprint_file("false", missing).error == "missing"
    assert fpcalc.fingerprint_file("false", folder).error == "not a file"


def test_nothing_to_decode_needs_no_fpcalc(tmp_path, monkeypatch):
    monkeypatch.setenv("FPCALC", "/nonexistent/fpcalc")
    missing = os.fsencode(tmp_path / "gone.mp3")
    assert list(fpcalc.fingerprint_files([], 2)) == []
    [result] = fpcalc.fingerprint_files([missing], 2)
    assert result.error == "missing"


def test_missing_program_names_the_package(monkeypatch):
    monkeypatch.setenv("FPCALC", "/nonexistent/fpcalc")
    with pytest.raises(fpcalc.FpcalcMissing, match="libchromaprint-tools"):
        fpcalc.fpcalc_command()


def counting_fpcalc(tmp_path: Path) -> tuple[str, Path]:
    """A stand-in for fpcalc that notes each run in a file."""
    runs = tmp_path / "runs"
    script = tmp_path / "fpcalc-counting"
    script.write_text(
        f"#!/bin/sh\necho run >> '{runs}'\nprintf 'DURATION=48\\nFINGERPRINT=OWN\\n'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), runs


@pytest.mark.parametrize(
    "applied, expected, decoded",
    [("CHROMA", "CHROMA", False), ("TAGGED", "OWN", True)],
)
def test_an_import_reuses_what_chroma_applied_not_what_the_tags_said(
    tmp_path, audio, applied, expected, decoded
):
    """chroma publishes its fingerprint on the item at `import_task_apply`;
    a value the file's tags carried already is not chroma's work."""
    command, runs = counting_fpcalc(tmp_path)
    source = FingerprintSource(Library(str(tmp_path / "library.db")), command, 1)
    source.chroma_does_it = True  # chroma.auto with autotagging
    item = Item(path=audio, acoustid_fingerprint="TAGGED")
    source.start([item])
    item.acoustid_fingerprint = applied  # chroma's import_task_apply

    assert source.get(item) == expected
    assert runs.exists() == decoded
    source.close()
