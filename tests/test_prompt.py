"""Uncertain pairs are asked about on a terminal, and only there."""

from __future__ import annotations

import json
import os
import re

from conftest import BeetEnv, relpaths, run_on_terminal

PROMPT_MARK = "sKip"


def uncertain_pairs(env: BeetEnv) -> list[list[str]]:
    groups = json.loads(env.run("dedupfuzzy", "--json").stdout)["groups"]
    return [
        [os.path.relpath(i["path"], env.libdir) for i in g["items"]]
        for g in groups
        if g["status"] == "uncertain"
    ]


def only(env: BeetEnv, *relpaths_: str) -> str:
    """A beets query matching exactly these files."""
    alternatives = "|".join(re.escape(p) for p in relpaths_)
    return f"path::(^|/)({alternatives})$"


def test_keep_first_moves_the_second_copy(library, tmp_path):
    pair = uncertain_pairs(library)[0]
    query = only(library, *pair)
    first, second = uncertain_pairs_in(library, query)[0]
    out = run_on_terminal(
        library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], ["f"]
    )
    assert "Uncertain match" in out and "similarity" in out
    left = relpaths(library)
    assert first in left and second not in left
    assert (tmp_path / "q" / second).is_file()


def test_keep_second_keeps_the_other_one(library, tmp_path):
    pair = uncertain_pairs(library)[0]
    query = only(library, *pair)
    shown = uncertain_pairs_in(library, query)[0]
    run_on_terminal(library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], ["s"])
    left = relpaths(library)
    assert shown[1] in left and shown[0] not in left


def test_keep_both_is_remembered(library, tmp_path):
    pair = uncertain_pairs(library)[0]
    query = only(library, *pair)
    run_on_terminal(library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], ["b"])
    assert set(pair) <= relpaths(library)
    assert uncertain_pairs_in(library, query) == []
    # Nothing to ask any more: no terminal answers needed.
    run_on_terminal(library, ["dedupfuzzy", "-m", str(tmp_path / "q"), query], [])


def test_skip_leaves_both_and_asks_again_next_time(library, tmp_path):
    pair = uncertain_pairs(library)[0]
    query = only(library, *pair)
    run_on_terminal(library, ["dedupfuzzy", "-t", "dupe=1", query], ["k"])
    assert relpaths(library, ("dupe:1",)) == set()
    run_on_terminal(library, ["dedupfuzzy", "-t", "dupe=1", query], ["k"])


def test_no_prompt_without_a_terminal(library, tmp_path):
    pair = uncertain_pairs(library)[0]
    proc = library.run("dedupfuzzy", "-m", str(tmp_path / "q"), only(library, *pair))
    assert PROMPT_MARK not in proc.stdout
    assert set(pair) <= relpaths(library)


def uncertain_pairs_in(env: BeetEnv, query: str) -> list[list[str]]:
    groups = json.loads(env.run("dedupfuzzy", "--json", query).stdout)["groups"]
    return [
        [os.path.relpath(i["path"], env.libdir) for i in g["items"]]
        for g in groups
        if g["status"] == "uncertain"
    ]


def test_progress_bar_only_on_a_terminal(library):
    stale = sorted(relpaths(library))[:3]
    for p in stale:
        os.utime(library.libdir / p, (1_700_000_000, 1_700_000_000))
    out = run_on_terminal(library, ["dedupfuzzy", "-c"], [])
    assert "fingerprinting [" in out and "3/3" in out
    for p in stale:
        os.utime(library.libdir / p, (1_700_000_001, 1_700_000_001))
    proc = library.run("dedupfuzzy", "-c")
    assert "fingerprinting [" not in proc.stdout + proc.stderr
    assert " 3 fingerprinted" in proc.stdout
