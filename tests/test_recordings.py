"""The recording model: `dedupfuzzy_recording` on every item, kept by every path."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import BeetEnv

# Song 1's remaster and its trimmed AAC copy are one step too far apart to
# be certain copies (similarity 0.85) at this threshold, while the 24-bit
# FLAC matches each of them strongly (0.86 and 0.90): a chain.
CHAIN = {"remaster": (1, "remaster"), "trimmed": (1, "aac-trim-start")}
MIDDLE = ("middle", (1, "flac-24-96"))
CHAIN_CONFIG = """\
dedupfuzzy:
    auto_threshold: 0.855
    ask_threshold: 0.5
"""


def recordings_of(env: BeetEnv, *query: str) -> dict[str, int]:
    """path -> recording id, as `beet ls` shows them."""
    out = env.run("ls", "-f", "$dedupfuzzy_recording $path", *query).stdout
    found = {}
    for line in out.splitlines():
        value, _, path = line.partition(" ")
        if value.isdigit():  # items without one show the bare field name
            found[path] = int(value)
    return found


def partition(values: dict[str, int]) -> set[frozenset[str]]:
    by_rec: dict[int, set[str]] = defaultdict(set)
    for path, rec in values.items():
        by_rec[rec].add(Path(path).name)
    return {frozenset(paths) for paths in by_rec.values()}


def duplicates(groups: list[dict]) -> list[list[dict]]:
    return [g["items"] for g in groups if g["status"] == "duplicate"]


def summary(env: BeetEnv, *args: str) -> dict:
    return json.loads(env.run("dedupfuzzy", "--json", *args).stdout)["summary"]


def test_copies_share_a_recording_users_can_query(library):
    doc = json.loads(library.run("dedupfuzzy", "--json").stdout)
    recs = recordings_of(library)
    groups = [
        {i["path"] for i in g["items"]}
        for g in doc["groups"]
        if g["status"] == "duplicate"
    ]
    assert groups
    grouped = set().union(*groups)
    for paths in groups:
        (rec,) = {recs[p] for p in paths}
        assert set(recordings_of(library, f"dedupfuzzy_recording:{rec}")) == paths
    # An item with no copy has a recording of its own.
    alone = [p for p in recs if p not in grouped]
    assert alone
    assert len({recs[p] for p in alone}) == len(alone)
    assert not {recs[p] for p in alone} & {recs[p] for p in grouped}


def test_a_warm_run_matches_nothing_and_finds_the_same_groups(library):
    before = json.loads(library.run("dedupfuzzy", "--json").stdout)
    again = json.loads(library.run("dedupfuzzy", "--json").stdout)
    assert again["summary"]["matched"] == 0
    assert again["groups"] == before["groups"]


def test_quarantine_keeps_the_recordings_and_undo_rematches(library):
    before = recordings_of(library)
    groups = json.loads(library.run("dedupfuzzy", "--json").stdout)["groups"]
    quarantine = library.root / "quarantine"
    library.run("dedupfuzzy", "-m", str(quarantine))
    after = recordings_of(library)
    assert after and all(before[p] == rec for p, rec in after.items())
    library.run("dedupfuzzy", "--undo")
    doc = json.loads(library.run("dedupfuzzy", "--json").stdout)
    moved = len(before) - len(after)
    assert moved and doc["summary"]["matched"] == moved
    # The same groups of copies (which uncertain pair stands for two groups
    # may differ: the restored copies were matched one by one).
    assert duplicates(doc["groups"]) == duplicates(groups)
    assert recordings_of(library) == before


def _place(corpus, env: BeetEnv, folder: str, files: dict) -> Path:
    target = env.root / folder
    for label, key in files.items():
        entry = next(e for e in corpus.entries if (e.song, e.variant) == key)
        source = corpus.path(entry)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / f"{label}{source.suffix}")
    return target


@pytest.mark.parametrize("defaults", [False, True], ids=["pinned", "beets-defaults"])
def test_import_hook_and_command_reach_the_same_groups(tmp_path, corpus, defaults):
    """The chain through the 24-bit FLAC: one group of two, never three (under
    the suite's pinned import settings and beets' threaded, copying,
    tag-writing defaults)."""
    hooked = BeetEnv(tmp_path / "hooked", beets_defaults=defaults)
    hooked.write_config(CHAIN_CONFIG + "    quiet_action: keep\n")
    batch = BeetEnv(tmp_path / "batch", beets_defaults=defaults)
    batch.write_config(CHAIN_CONFIG + "    auto: no\n")
    for env in (hooked, batch):
        env.run("import", "-q", "-A", "-s", str(_place(corpus, env, "a", CHAIN)))
        env.run(
            "import", "-q", "-A", "-s", str(_place(corpus, env, "b", dict([MIDDLE])))
        )
    batch.run("dedupfuzzy")

    by_hook = partition(recordings_of(hooked))
    assert by_hook == partition(recordings_of(batch))
    assert {len(g) for g in by_hook} == {1, 2}
    assert summary(hooked)["matched"] == 0


@pytest.mark.parametrize("defaults", [False, True], ids=["pinned", "beets-defaults"])
def test_import_never_moves_two_copies_that_differ_from_each_other(
    tmp_path, corpus, defaults
):
    """The new FLAC is the best copy and matches both library copies, which
    do not match each other: only the one grouped with it leaves, the one it
    matches more closely (the trimmed AAC, 0.90 against 0.86). (The
    corpus's 24/96 FLAC is upsampled from 44.1 kHz: the lossless check would
    rank it with the 16/44.1 remaster, so it is off here.)"""
    env = BeetEnv(tmp_path / "env", beets_defaults=defaults)
    quarantine = env.root / "quarantine"
    env.write_config(
        CHAIN_CONFIG + f"    quiet_action: best\n    quarantine: {quarantine}\n"
        "    check_lossless: no\n"
    )
    env.run("import", "-q", "-A", "-s", str(_place(corpus, env, "a", CHAIN)))
    out = env.run(
        "import", "-q", "-A", "-s", str(_place(corpus, env, "b", dict([MIDDLE])))
    ).stdout

    assert "1 quarantined" in out
    (moved,) = quarantine.rglob("*.*")
    assert moved.suffix == ".m4a"
    left = sorted(Path(p).suffix for p in recordings_of(env))
    assert left == [".flac", ".flac"]
