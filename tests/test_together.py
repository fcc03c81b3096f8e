"""What users do: two runs at once, a crash then a re-import, odd names.

Every test drives real `beet` processes on a real library; nothing may be
lost, no run may print a traceback, and the library must point at one
existing file per item afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import BEET, BeetEnv

from beetsplug.dedupfuzzy.safety.lock import LibraryLock

HOOKS = Path(__file__).resolve().parent / "hooks"


def start(env: BeetEnv, *args: str, pause: str = "") -> subprocess.Popen[str]:
    """Start `beet ARGS` without waiting; `pause` stops it at a point of a move."""
    extra = {"DEDUPFUZZY_TEST_PAUSE": pause, "PYTHONPATH": str(HOOKS)} if pause else {}
    return subprocess.Popen(
        [BEET, *args],
        stdin=subprocess.PIPE if pause else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, BEETSDIR=str(env.configdir), HOME=str(env.root), **extra),
        cwd=env.root,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    """Wait for a run; it must succeed without a traceback. Returns its stdout."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (proc.args, out, err)
    assert "Traceback" not in err and "database is locked" not in err, err
    return out


def contents(*roots: Path) -> Counter[str]:
    """How many files hold each content, under the roots (views not followed)."""
    found: Counter[str] = Counter()
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = Path(dirpath, name)
                if path.is_symlink() or path.suffix in {".db", ".yaml"}:
                    continue
                if name.endswith(".dedupfuzzy-lock") or name == "state.pickle":
                    continue
                found[hashlib.sha1(path.read_bytes()).hexdigest()] += 1
    return found


def items(env: BeetEnv) -> list[str]:
    return env.run("ls", "-f", "$path").stdout.splitlines()


def assert_one_item_per_existing_file(env: BeetEnv) -> None:
    paths = items(env)
    assert len(paths) == len(set(paths)), "two items share a path"
    missing = [p for p in paths if not os.path.exists(p)]
    assert not missing, missing


# Two runs at once.


@pytest.mark.parametrize("attempt", [1, 2])
def test_two_moves_at_once_lose_nothing(library, tmp_path, attempt):
    quarantine = tmp_path / "q"
    before = contents(library.libdir)
    runs = [start(library, "dedupfuzzy", "-m", str(quarantine)) for _ in range(2)]
    for proc in runs:
        finish(proc)
    assert contents(library.libdir, quarantine) == before
    assert_one_item_per_existing_file(library)
    assert "0 copies not kept" in library.run("dedupfuzzy").stdout


def test_a_move_beside_an_import_loses_nothing(library, tmp_path, corpus):
    quarantine = tmp_path / "q"
    library.write_config(
        f"dedupfuzzy:\n    quarantine: {quarantine}\n    quiet_action: best\n"
    )
    incoming = tmp_path / "incoming"
    for entry in corpus.entries:
        if entry.variant in ("master", "mp3-320") and entry.song in (1, 2):
            (incoming / entry.relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(corpus.path(entry), incoming / entry.relpath)
    before = contents(library.libdir, incoming)
    runs = [
        start(library, "import", "-q", "-s", "-A", str(incoming)),
        start(library, "dedupfuzzy", "-m", str(quarantine)),
    ]
    for proc in runs:
        finish(proc)
    # The import copies files in: nothing is lost, some contents are doubled.
    after = contents(library.libdir, quarantine, incoming)
    assert not before - after
    assert_one_item_per_existing_file(library)


def test_a_move_beside_the_mirror_loses_nothing(library, tmp_path):
    quarantine = tmp_path / "q"
    views = tmp_path / "views"
    library.write_config(
        f"mirror:\n    high: {views / 'high'}\n    low: {views / 'low'}\n"
    )
    before = contents(library.libdir)
    runs = [
        start(library, "mirror"),
        start(library, "dedupfuzzy", "-m", str(quarantine)),
    ]
    for proc in runs:
        finish(proc)
    assert contents(library.libdir, quarantine) == before
    assert_one_item_per_existing_file(library)


def test_a_second_run_waits_for_the_first_and_says_so(library, tmp_path):
    quarantine = tmp_path / "q"
    lock = LibraryLock(library.dbpath, wait=0)
    lock.acquire()
    try:
        proc = start(library, "dedupfuzzy", "-m", str(quarantine))
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith(
            f"dedupfuzzy: waiting for another run to finish (pid {os.getpid()}: "
        )
        assert not quarantine.exists()
    finally:
        lock.release()
    assert "file(s) to" in finish(proc)
    assert [p for p in quarantine.rglob("*") if p.is_file()]


def test_a_run_that_must_not_wait_stops_with_one_line(library, tmp_path):
    library.write_config("dedupfuzzy:\n    lock_wait: 0\n")
    with LibraryLock(library.dbpath, wait=0).held():
        proc = library.run("dedupfuzzy", "-m", str(tmp_path / "q"), check=False)
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: dedupfuzzy: another run is using this library")
    assert f"pid {os.getpid()}" in line
    assert not (tmp_path / "q").exists()


# A crash, then a re-import.


def _kill_mid_move(env: BeetEnv, quarantine: Path, pause: str) -> Path:
    """Kill `beet dedupfuzzy -m` inside its first move; return that file's path."""
    proc = start(env, "dedupfuzzy", "-m", str(quarantine), pause=pause)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("PAUSED "):
            moving = Path(line.removeprefix("PAUSED ").rstrip("\n"))
            break
    else:
        raise AssertionError("the run never reached its first move")
    proc.kill()
    proc.communicate()
    return moving


@pytest.mark.parametrize(
    ("pause", "plugin_on_import"),
    [("unlink", True), ("link", True), ("unlink", False)],
)
def test_a_killed_move_then_a_reimport_then_undo_all(
    library, tmp_path, pause, plugin_on_import
):
    quarantine = tmp_path / "q"
    before = contents(library.libdir)
    before_items = sorted(items(library))
    moving = _kill_mid_move(library, quarantine, pause)
    assert moving.exists()
    in_quarantine = [p for p in quarantine.rglob("*") if p.is_file()]
    assert len(in_quarantine) == (1 if pause == "unlink" else 0)

    # The folder is imported again in place, as a user might.
    disable = () if plugin_on_import else ("-P", "dedupfuzzy")
    library.run(*disable, "import", "-q", "-s", "-A", "-C", str(moving.parent))
    assert_one_item_per_existing_file(library)
    library.run("dedupfuzzy", "--undo", "--all")

    assert sorted(items(library)) == before_items
    assert contents(library.libdir) == before
    assert not [p for p in quarantine.rglob("*") if p.is_file()]


# Odd names.

ODD = ("new\nline", "tab\there", "emoji 🎵 note")


def test_odd_names_stay_on_one_line_everywhere(beet, corpus, tmp_path):
    song = [e for e in corpus.entries if e.song == 1]
    copies = [e for e in song if e.variant in ("master", "mp3-320", "mp3-v0")]
    folder = beet.libdir / "odd"
    folder.mkdir()
    for name, entry in zip(ODD, copies, strict=True):
        shutil.copy2(corpus.path(entry), folder / f"{name}{corpus.path(entry).suffix}")
    beet.run("import", "-q", "-s", "-A", "-C", str(folder))
    escaped = {n: n.replace("\n", "\\n").replace("\t", "\\t") for n in ODD}

    listing = beet.run("dedupfuzzy").stdout.splitlines()
    for name in ODD:
        assert sum(escaped[name] in line for line in listing) == 1, listing
    assert not [ln for ln in listing if ln.startswith(("here", "line"))]

    quarantine = tmp_path / "q"
    moved = beet.run("dedupfuzzy", "-m", str(quarantine))
    moves = [ln for ln in moved.stderr.splitlines() if "moved " in ln]
    assert len(moves) == 2 and all(" -> " in ln for ln in moves)
    assert {ln.count("odd/") for ln in moves} == {2}

    undone = beet.run("dedupfuzzy", "--undo").stdout.splitlines()
    restored = [ln for ln in undone if ln.startswith("restored ")]
    assert len(restored) == 2
    assert all(any(escaped[n] in ln for n in ODD) for ln in restored)
    assert sorted(os.listdir(folder)) == sorted(
        f"{n}{corpus.path(e).suffix}" for n, e in zip(ODD, copies, strict=True)
    )
