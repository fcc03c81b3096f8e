"""Mistakes are refused with one line and a non-zero exit; failures are counted.

Also: every config key works from config.yaml, and a key the plugin does
not know gets a warning naming it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import BeetEnv, relpaths


def refused(proc) -> str:
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def leaving(env: BeetEnv) -> list[str]:
    groups = json.loads(env.run("dedupfuzzy", "--json").stdout)["groups"]
    return [
        i["path"]
        for g in groups
        if g["status"] == "duplicate"
        for i in g["items"]
        if not i["keep"]
    ]


@pytest.fixture
def small(beet: BeetEnv, corpus) -> BeetEnv:
    """Two items: one in the library directory, one in place in `music/`."""
    audio = [e for e in corpus.entries if e.recording is not None][:2]
    folders = (beet.libdir / "a", beet.root / "music" / "b")
    for folder, entry in zip(folders, audio, strict=True):
        folder.mkdir(parents=True)
        shutil.copy2(corpus.path(entry), folder / Path(entry.relpath).name)
    beet.write_config("dedupfuzzy:\n    auto: no\n")
    beet.run("import", "-q", "-A", "-C", *map(str, folders))
    beet.write_config()
    assert len(item_paths(beet)) == 2
    return beet


def item_paths(env: BeetEnv) -> list[str]:
    return [p for p in env.run("ls", "-f", "$path").stdout.splitlines() if p]


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda env: env.libdir, "inside the library directory"),
        (lambda env: env.libdir / "a" / "quarantine", "inside the library"),
        (lambda env: env.root, "holds library items"),
        (lambda env: env.root / "music" / "b" / "q", "which holds library items"),
    ],
    ids=["library-dir", "below-library-dir", "above-the-items", "among-the-items"],
)
def test_a_quarantine_among_the_library_is_refused(small, where, says):
    before = item_paths(small)

    line = refused(small.run("dedupfuzzy", "-m", str(where(small)), check=False))

    assert says in line
    assert item_paths(small) == before


def test_an_import_with_a_quarantine_in_the_library_is_refused(small, tmp_path):
    small.write_config(
        f"dedupfuzzy:\n    quarantine: {small.libdir / 'Q'}\n    quiet_action: best\n"
    )
    before = item_paths(small)
    (tmp_path / "new").mkdir()

    line = refused(small.run("import", "-q", "-A", str(tmp_path / "new"), check=False))

    assert "inside the library directory" in line
    assert item_paths(small) == before


def test_a_run_whose_moves_partly_fail_does_the_rest_and_exits_non_zero(
    library, tmp_path
):
    copies = leaving(library)
    quarantine = tmp_path / "q"
    # A file where one copy's folder would go in the quarantine: that move fails.
    blocked = Path(copies[0]).relative_to(library.libdir).parts[0]
    quarantine.mkdir()
    (quarantine / blocked).write_text("in the way")
    failing = [
        c for c in copies if Path(c).relative_to(library.libdir).parts[0] == blocked
    ]

    proc = library.run("dedupfuzzy", "-m", str(quarantine), check=False)

    assert proc.returncode != 0
    assert f"{len(failing)} of {len(copies)} action(s) failed" in proc.stderr
    assert f"moved {len(copies) - len(failing)} file(s)" in proc.stdout
    left = {str(library.libdir / p) for p in relpaths(library)}
    assert set(failing) <= left
    assert not (set(copies) - set(failing)) & left


def test_pretend_from_the_config_moves_nothing(library, tmp_path):
    library.write_config(
        f"dedupfuzzy:\n    quarantine: {tmp_path / 'q'}\n    move: yes\n"
        "    pretend: yes\n"
    )
    before = relpaths(library)

    out = library.run("dedupfuzzy").stdout

    assert "would move" in out
    assert relpaths(library) == before
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize("defaults", [False, True], ids=["pinned", "beets-defaults"])
def test_pretend_from_the_config_makes_an_import_move_nothing(
    library, tmp_path, defaults
):
    quarantine = tmp_path / "q"
    library.beets_defaults = defaults  # threaded, copy: yes, write: yes
    library.write_config(
        f"dedupfuzzy:\n    quarantine: {quarantine}\n    quiet_action: best\n"
        "    pretend: yes\n"
    )
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    some = sorted(relpaths(library))[0]
    (incoming / Path(some).name).write_bytes((library.libdir / some).read_bytes())

    out = library.run("import", "-q", "-A", str(incoming)).stdout

    assert "1 duplicates found: 1 kept, 0 quarantined, 0 not imported" in out
    assert not quarantine.exists()


def test_unknown_keys_are_named(beet):
    beet.write_config(
        "dedupfuzzy:\n    auto_treshold: 0.8\n    keep: best\n"
        "mirror:\n    hihg: /tmp/high\n"
    )

    proc = beet.run("dedupfuzzy")

    warnings = [line for line in proc.stderr.splitlines() if "unknown" in line]
    assert len(warnings) == 2
    assert "dedupfuzzy.auto_treshold" in warnings[0]
    assert "did you mean dedupfuzzy.auto_threshold" in warnings[0]
    assert "mirror.hihg" in warnings[1]
