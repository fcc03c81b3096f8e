"""The mirror's ownership record: every link it made, kept in the library DB.

A table of the plugin's own (``dedupfuzzy_links``), like the move journal's:
one row per link, with the view's name and folder, the link's path in the
view, its text, the path it leads to and the library item it shows (none in
directory mode). A run touches a link only if this record lists it with the
same text, so it never takes a user's link for its own, wherever the music
lives (an in-place library's files are outside the library directory), and
it still finds its links after the template, the depth or a view's folder
changed.

After a run, :func:`record_after` computes the rows from what the run did,
and :meth:`LinkRecord.save` writes only the difference.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from beets.library import Library

from .apply import ApplyReport
from .model import Action, ActionKind, RecordedLink

TABLE = "dedupfuzzy_links"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " view TEXT NOT NULL, root TEXT NOT NULL, rel TEXT NOT NULL,"
    " link TEXT NOT NULL, target TEXT NOT NULL, item INTEGER,"
    " PRIMARY KEY (view, root, rel))"
)
# The stamp (``mirror.stamp``) vouches for this record as it was: any
# change to the record forgets it.
STAMP_TABLE = "dedupfuzzy_mirror_stamp"
STAMP_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {STAMP_TABLE} ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), digest TEXT NOT NULL,"
    " folders TEXT NOT NULL, unusable TEXT NOT NULL, links INTEGER NOT NULL,"
    " settings TEXT NOT NULL, ledger BLOB)"
)

ViewRows = dict[str, RecordedLink]
"""The recorded links of one view folder: relative path -> record."""


@dataclass(frozen=True)
class ViewKey:
    """One view folder the record knows: the view's name and its folder."""

    view: str
    root: str


class LinkRecord:
    """The links the mirror made, read once per run."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.rows: dict[ViewKey, ViewRows] = {}
        try:
            with lib.transaction() as tx:
                found = tx.query(
                    f"SELECT view, root, rel, link, target, item FROM {TABLE}"
                )
        except sqlite3.OperationalError:  # no table yet: nothing recorded
            found = []
        for view, root, rel, text, target, item in found:
            key = ViewKey(view, root)
            self.rows.setdefault(key, {})[rel] = RecordedLink(text, target, item)

    def of(self, view: str, root: str) -> ViewRows:
        """The recorded links of one view in one folder."""
        return self.rows.get(ViewKey(view, root), {})

    def old_roots(self, view: str, root: str) -> list[str]:
        """Folders where this view used to be, still holding recorded links."""
        return sorted(k.root for k in self.rows if k.view == view and k.root != root)

    def dropped(self, views: Collection[str]) -> list[ViewKey]:
        """Folders of views not among ``views`` that still hold recorded links."""
        return sorted(
            (k for k, rows in self.rows.items() if rows and k.view not in views),
            key=lambda k: (k.view, k.root),
        )

    def save(self, updates: Mapping[ViewKey, tuple[ViewRows, ViewRows]]) -> int:
        """Write the difference between the rows before and after, per view
        folder, in one transaction; returns how many rows changed.
        """
        deletes, upserts = [], []
        for key, (before, after) in updates.items():
            for rel in before.keys() - after.keys():
                deletes.append((key.view, key.root, rel))
            for rel, row in after.items():
                if before.get(rel) != row:
                    upserts.append(
                        (key.view, key.root, rel, row.text, row.target, row.item)
                    )
        if not deletes and not upserts:
            return 0
        with self.lib.transaction() as tx:
            tx.script(f"{_SCHEMA}; {STAMP_SCHEMA}")
            tx.mutate(f"DELETE FROM {STAMP_TABLE}")
            tx.mutate_many(
                f"DELETE FROM {TABLE} WHERE view = ? AND root = ? AND rel = ?",
                deletes,
            )
            tx.mutate_many(
                f"INSERT OR REPLACE INTO {TABLE}"
                " (view, root, rel, link, target, item) VALUES (?, ?, ?, ?, ?, ?)",
                upserts,
            )
        for key, (_, after) in updates.items():
            self.rows[key] = {**self.rows.get(key, {}), **after}
            for rel in updates[key][0].keys() - after.keys():
                self.rows[key].pop(rel, None)
        return len(deletes) + len(upserts)


def record_after(
    before: ViewRows,
    actions: Iterable[Action],
    report: ApplyReport,
    items: Mapping[str, int],
) -> ViewRows:
    """The recorded links of one view folder after its actions were applied.

    A link is recorded when the run made it (created or replaced) or kept a
    link it owns; a recorded link whose removal or replacement failed stays
    recorded; every other row goes (the link was removed, or someone else
    replaced or deleted it). ``items`` gives the item each link shows.
    """
    done = {id(action) for action in report.done}
    after: ViewRows = {}
    for action in actions:
        rel = action.rel
        made = action.kind in (ActionKind.CREATE, ActionKind.REPLACE)
        if (made and id(action) in done) or (
            action.kind is ActionKind.KEEP and action.owned
        ):
            after[rel] = RecordedLink(action.link_text, action.target, items.get(rel))
        elif (
            action.kind in (ActionKind.REMOVE, ActionKind.REPLACE)
            and id(action) not in done
            and rel in before
        ):
            after[rel] = before[rel]
    return after
