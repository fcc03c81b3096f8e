"""A "keep both" answer belongs to the two items it was given about: an item
that later takes a removed item's id does not inherit it."""

from __future__ import annotations

import time

from beets.library import Item, Library

from beetsplug.dedupfuzzy.store import decisions


def add_item(lib: Library, name: str, added: float) -> Item:
    item = Item(path=f"/music/{name}.mp3".encode(), title=name, added=added)
    lib.add(item)
    return item


def test_an_answer_holds_for_its_items_and_not_for_an_id_reused(tmp_path):
    lib = Library(str(tmp_path / "library.db"), str(tmp_path))
    now = time.time()
    first, second = add_item(lib, "first", now), add_item(lib, "second", now + 1)
    decisions.mark_distinct(lib, second.id, first.id)
    assert decisions.load_distinct(lib) == {(first.id, second.id)}

    # The second item leaves; SQLite gives its id to the next item added.
    reused_id = second.id
    second.remove()
    newcomer = add_item(lib, "newcomer", now + 60)
    assert newcomer.id == reused_id
    assert decisions.load_distinct(lib) == set()
    # The void answer is gone for good: marking the new pair works afresh.
    decisions.mark_distinct(lib, first.id, newcomer.id)
    assert decisions.load_distinct(lib) == {(first.id, newcomer.id)}


def test_answers_kept_before_added_times_were_recorded_still_hold(tmp_path):
    lib = Library(str(tmp_path / "library.db"), str(tmp_path))
    first, second = add_item(lib, "first", 1.0), add_item(lib, "second", 2.0)
    with lib.transaction() as tx:  # the table as earlier versions made it
        tx.script(
            f"CREATE TABLE {decisions.TABLE} (a INTEGER NOT NULL,"
            " b INTEGER NOT NULL, PRIMARY KEY (a, b))"
        )
        tx.mutate(
            f"INSERT INTO {decisions.TABLE} (a, b) VALUES (?, ?)", (first.id, second.id)
        )
    assert decisions.load_distinct(lib) == {(first.id, second.id)}
