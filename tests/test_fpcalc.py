"""How fpcalc's answers are read: exit codes, errors, missing program."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from beetsplug.dedupfuzzy.fingerprinting import fpcalc


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


def test_failure_gives_fpcalcs_own_reason_on_one_line(tmp_path, audio):
    cmd = fake_fpcalc(tmp_path, "", "ERROR: Could not open the input file\\n", 2)
    result = fpcalc.fingerprint_file(cmd, audio)
    assert not result.ok
    assert result.error == "cannot fingerprint: Could not open the input file"


def test_missing_and_empty_files_are_not_handed_to_fpcalc(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    missing = os.fsencode(tmp_path / "gone.mp3")
    assert fpcalc.fingerprint_file("false", os.fsencode(empty)).error == "empty file"
    assert fpcalc.fingerprint_file("false", missing).error == "file not found"


def test_missing_program_names_the_package(monkeypatch):
    monkeypatch.setenv("FPCALC", "/nonexistent/fpcalc")
    with pytest.raises(fpcalc.FpcalcMissing, match="libchromaprint-tools"):
        fpcalc.fpcalc_command()
