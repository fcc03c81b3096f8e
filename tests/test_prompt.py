"""Uncertain pairs are asked about on a terminal, and only there.

`beet dedupfuzzy` and `beet import` ask the same question with the same
answers: keep New, keep Old, keep Both, decide Later. The copy added first
is the "old" one.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

from conftest import BEET, BeetEnv, relpaths, run_on_terminal

PROMPT_MARK = "keep Both, decide"


def uncertain_pairs(env: BeetEnv, query: str = "") -> list[list[str]]:
    """Uncertain pairs as [old, new] paths relative to the library."""
    args = ["dedupfuzzy", "--json", *([query] if query else [])]
    groups = json.loads(env.run(*args).stdout)["groups"]
    return [
        [
            os.path.relpath(i["path"], env.libdir)
            for i in sorted(g["items"], key=lambda i: i["id"])
        ]
        for g in groups
        if g["status"] == "uncertain"
    ]


def only(env: BeetEnv, *relpaths_: str) -> str:
    """A beets query matching exactly these files."""
    alternatives = "|".join(re.escape(p) for p in relpaths_)
    return f"path::(^|/)({alternatives})$"


def one_pair(env: BeetEnv) -> tuple[list[str], str]:
    pair = uncertain_pairs(env)[0]
    return pair, only(env, *pair)


def test_keep_old_moves_the_new_copy(library, tmp_path):
    (old, new), query = one_pair(library)
    out = run_on_terminal(
        library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], ["o"]
    )
    assert "Uncertain match" in out and "similarity" in out
    assert "keep New, keep Old, keep Both, decide [L]ater" in out.replace("\r", "")
    left = relpaths(library)
    assert old in left and new not in left
    assert (tmp_path / "q" / new).is_file()


def test_keep_new_moves_the_old_copy(library, tmp_path):
    (old, new), query = one_pair(library)
    run_on_terminal(library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], ["n"])
    left = relpaths(library)
    assert new in left and old not in left


def test_keep_both_is_remembered(library, tmp_path):
    pair, query = one_pair(library)
    run_on_terminal(library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], ["b"])
    assert set(pair) <= relpaths(library)
    assert uncertain_pairs(library, query) == []
    # Nothing to ask any more: no terminal answers needed.
    run_on_terminal(library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], [])


def test_later_is_the_default_and_asks_again_next_time(library, tmp_path):
    pair, query = one_pair(library)
    run_on_terminal(library, ["dedupfuzzy", "-t", "dupe=1", query], [""])
    assert relpaths(library, ("dupe:1",)) == set()
    run_on_terminal(library, ["dedupfuzzy", "-t", "dupe=1", query], ["l"])


def test_no_prompt_without_a_terminal(library, tmp_path):
    pair, query = one_pair(library)
    proc = library.run("dedupfuzzy", "-m", str(tmp_path / "q"), query)
    assert PROMPT_MARK not in proc.stdout + proc.stderr
    assert set(pair) <= relpaths(library)


def test_a_redirected_listing_gets_no_prompt_the_terminal_does(library, tmp_path):
    pair, query = one_pair(library)
    listing = tmp_path / "list.txt"
    out = run_on_terminal(
        library,
        ["dedupfuzzy", "-m", str(tmp_path / "q"), query],
        ["b"],
        stdout=listing,
    )
    assert "Uncertain match" in out  # asked on the terminal (stderr)
    text = listing.read_text()
    assert PROMPT_MARK not in text and "Uncertain match" not in text
    assert "1 uncertain" in text  # the listing itself went to the file


def test_a_piped_run_does_not_wait_for_an_invisible_prompt(library, tmp_path):
    """`beet dedupfuzzy -m Q | tail`, typed on a terminal, stderr piped too."""
    pair, query = one_pair(library)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [BEET, "dedupfuzzy", "-m", str(tmp_path / "q"), query],
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(
                os.environ, BEETSDIR=str(library.configdir), HOME=str(library.root)
            ),
        )
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr
    assert PROMPT_MARK not in proc.stdout + proc.stderr
    assert set(pair) <= relpaths(library)


def test_progress_bar_only_on_a_terminal(library, tmp_path):
    paths = sorted(relpaths(library))
    stale = [library.libdir / p for p in paths[:3]]
    others = [library.libdir / p for p in paths[-3:]]
    originals = [p.read_bytes() for p in stale]
    for path, other in zip(stale, others, strict=True):
        path.write_bytes(other.read_bytes())  # other audio, same name
    out = run_on_terminal(
        library, ["dedupfuzzy", "-c"], [], stdout=tmp_path / "listing.txt"
    )
    # On the terminal though the listing went to a file; every long stage of
    # the run has its line (a first run of a large library spends minutes
    # in each; fresh fingerprints are sketched as they are made).
    stages = ("reading files [", "fingerprinting [", "searching [", "verifying [")
    for stage in stages:
        assert stage in out
    assert "fingerprinting [##############################] 3/3" in out
    listing = (tmp_path / "listing.txt").read_text()
    assert not [stage for stage in stages if stage in listing]
    for path, data in zip(stale, originals, strict=True):
        path.write_bytes(data)
    proc = library.run("dedupfuzzy", "-c")
    assert not [stage for stage in stages if stage in proc.stdout + proc.stderr]
    assert " 3 fingerprinted" in proc.stdout
