"""Runs that cost only what changed: items removed or added after a run are
handled alone (added ones matched in query mode against the stored sketches)
and the groups are those a run over everything finds."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import BeetEnv

from beetsplug.dedupfuzzy.store.sketchcache import SKETCH_CACHE


def run_json(env: BeetEnv) -> dict:
    return json.loads(env.run("dedupfuzzy", "--json").stdout)


def copies(doc: dict) -> set[frozenset[str]]:
    """The duplicate groups, each as the set of its paths."""
    return {
        frozenset(i["path"] for i in g["items"])
        for g in doc["groups"]
        if g["status"] == "duplicate"
    }


def sketch_records(env: BeetEnv) -> tuple[int, int]:
    """(cached sketches, stored sketches)."""
    with sqlite3.connect(env.dbpath) as db:
        tables = db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ?", (SKETCH_CACHE,)
        ).fetchall()
        (cached,) = (
            db.execute(f"SELECT sum(length(ids)) / 8 FROM {SKETCH_CACHE}").fetchone()
            if tables
            else (0,)
        )
        (stored,) = db.execute(
            "SELECT count(*) FROM item_attributes WHERE key = 'dedupfuzzy_blocks'"
        ).fetchone()
    return cached, stored


def readd(env: BeetEnv, paths: list[str]) -> dict:
    """Remove items (their files stay), add them back, run: the document."""
    for path in paths:
        env.run("remove", "-f", f"path:{path}")
    for path in paths:
        env.run("import", "-A", "-s", "-C", "-q", path)
    return run_json(env)


@pytest.mark.parametrize("defaults", [False, True], ids=["pinned", "beets-defaults"])
def test_removed_then_added_items_are_matched_alone_into_the_same_groups(
    library, defaults
):
    library.beets_defaults = defaults  # threaded, copy: yes, write: yes
    library.write_config()
    full = run_json(library)
    expected = copies(full)
    # One copy that is not kept out of each of three groups leaves the
    # library; its file stays where it is.
    groups = [g["items"] for g in full["groups"] if g["status"] == "duplicate"]
    leaving = [items[-1]["path"] for items in groups[:3]]
    for path in leaving:
        library.run("remove", "-f", f"path:{path}")
    without = run_json(library)
    assert without["summary"]["matched"] == 0
    assert copies(without) == {
        g - set(leaving) for g in expected if len(g - set(leaving)) > 1
    }

    # They come back as new items, the import hook off: the next run matches
    # only them against everything stored (the sketches read from the items,
    # none cached yet: the import hook matched this library), and caches
    # every sketch it read.
    library.write_config("dedupfuzzy:\n    auto: no\n")
    for path in leaving:
        library.run("import", "-A", "-s", "-C", "-q", path)
    again = run_json(library)
    assert again["summary"]["matched"] == len(leaving)
    assert copies(again) == expected
    cached, stored = sketch_records(library)
    assert cached >= stored > 0

    # Once more, the library's sketches read from the cache.
    once_more = readd(library, leaving[:1])
    assert once_more["summary"]["matched"] == 1
    assert copies(once_more) == expected

    warm = run_json(library)
    assert warm["summary"]["matched"] == 0
    assert warm["groups"] == once_more["groups"]


def test_a_new_item_that_takes_a_removed_items_id_is_read_as_itself(library):
    """SQLite gives a new item the id of the removed highest one: the run must
    read the new item, not the removed one's cached row (whose file is still
    on disk, unchanged)."""
    full = run_json(library)
    listing = library.run("ls", "-f", "$id\t$path").stdout.splitlines()
    by_id = {int(i): p for i, p in (line.split("\t", 1) for line in listing)}
    top = max(by_id)
    gone = by_id[top]
    groups = [g["items"] for g in full["groups"] if g["status"] == "duplicate"]
    back = next(
        items[-1]["path"] for items in groups if gone not in {i["path"] for i in items}
    )
    library.run("remove", "-f", f"path:{gone}")
    library.run("remove", "-f", f"path:{back}")
    library.write_config("dedupfuzzy:\n    auto: no\n")
    library.run("import", "-A", "-s", "-C", "-q", back)
    listing = library.run("ls", "-f", "$id\t$path").stdout.splitlines()
    assert f"{top}\t{back}" in listing  # the removed item's id, taken again

    again = run_json(library)
    expected = {g - {gone} for g in copies(full) if len(g - {gone}) > 1}
    assert copies(again) == expected
    shown = {i["path"] for g in again["groups"] for i in g["items"]}
    assert gone not in shown
    assert back in shown
