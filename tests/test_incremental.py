"""Runs that cost only what changed: items removed or added after a run are
handled alone (added ones matched in query mode against the stored sketches)
and the groups are those a run over everything finds."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import BeetEnv

from beetsplug.dedupfuzzy.store.catalog import SKETCH_CACHE


def run_json(env: BeetEnv) -> dict:
    return json.loads(env.run("dedupfuzzy", "--json").stdout)


def copies(doc: dict) -> set[frozenset[str]]:
    """The duplicate groups, each as the set of its paths."""
    return {
        frozenset(i["path"] for i in g["items"])
        for g in doc["groups"]
        if g["status"] == "duplicate"
    }


@pytest.mark.parametrize("sketch_cache", ["kept", "dropped"])
def test_removed_then_added_items_are_matched_alone_into_the_same_groups(
    library, sketch_cache
):
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

    if sketch_cache == "dropped":
        # As a library from before the cache: sketches read from the items.
        with sqlite3.connect(library.dbpath) as db:
            db.execute(f"DROP TABLE {SKETCH_CACHE}")
    # They come back as new items, the import hook off: the next run matches
    # only them, against everything stored.
    library.write_config("dedupfuzzy:\n    auto: no\n")
    for path in leaving:
        library.run("import", "-A", "-s", "-C", "-q", path)
    again = run_json(library)
    assert again["summary"]["matched"] == len(leaving)
    assert copies(again) == expected

    warm = run_json(library)
    assert warm["summary"]["matched"] == 0
    assert warm["groups"] == again["groups"]
