"""Files that cannot take part are named, one line each, with the reason."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import BeetEnv, relpaths

SILENT = ("misc/Unknown Artist/Track 01.flac", "misc/Unknown Artist - Track 02.mp3")
TONE = "misc/test tones/440 Hz sine.flac"


@pytest.fixture
def odd_files(library: BeetEnv) -> dict[str, str]:
    """A short clip imported, then files emptied, garbled and deleted.

    Returns the expected reason for each odd file, by path.
    """
    clip = library.libdir / "clips" / "two seconds.mp3"
    clip.parent.mkdir()
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:d=2", clip],
        check=True,
    )
    library.run("import", "-q", "-s", "-A", "-C", str(clip.parent))
    mp3s = sorted(relpaths(library, ("format:MP3",)) - set(SILENT))
    empty, garbled, gone = (library.libdir / p for p in mp3s[:3])
    empty.write_bytes(b"")
    garbled.write_bytes(b"this is not audio at all" * 100)
    gone.unlink()
    expected = {
        clip: "too short to fingerprint",
        empty: "empty file",
        garbled: "not audio",
        gone: "missing",
        library.libdir / TONE: "silent or nearly constant",
    }
    for path in SILENT:
        expected[library.libdir / path] = "silent or nearly constant"
    return {str(path): reason for path, reason in expected.items()}


def skipped_lines(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.startswith("skipped ("):
            reason, _, path = line.removeprefix("skipped (").partition("): ")
            assert path not in found, f"{path} named twice"
            found[path] = reason
    return found


def test_listing_names_each_file_with_its_reason(library, odd_files):
    out = library.run("dedupfuzzy").stdout
    assert skipped_lines(out) == odd_files
    assert "duplicate groups" in out


def test_json_lists_them_and_says_so_on_stderr(library, odd_files):
    proc = library.run("dedupfuzzy", "--json")
    doc = json.loads(proc.stdout)
    assert {s["path"]: s["reason"] for s in doc["skipped"]} == odd_files
    assert skipped_lines(proc.stderr) == odd_files
    assert doc["summary"]["failed"] + doc["summary"]["silent"] == len(odd_files)


def test_a_move_names_them_too(library, odd_files, tmp_path):
    out = library.run("dedupfuzzy", "-m", str(tmp_path / "q")).stdout
    assert skipped_lines(out) == odd_files
    for path in odd_files:
        assert not (tmp_path / "q" / os.path.relpath(path, library.libdir)).exists()


def test_a_warm_run_needs_no_fpcalc(library, tmp_path):
    library.env["FPCALC"] = "/nonexistent/fpcalc"
    out = library.run("dedupfuzzy").stdout
    assert " 0 fingerprinted" in out and "duplicate groups" in out
    quarantine = tmp_path / "q"
    library.run("dedupfuzzy", "-m", str(quarantine))
    assert [p for p in Path(quarantine).rglob("*") if p.is_file()]
