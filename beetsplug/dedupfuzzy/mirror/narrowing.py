"""Narrowed mirror runs (a QUERY run, a run after a change): the part of a
view they plan, everything else left as it is."""

from __future__ import annotations

from collections.abc import Collection

from .model import ViewSpec, ViewState
from .relpaths import depth_of, folders_above, parent_of


class ViewPart:
    """The part of a view a narrowed run plans (a QUERY run, a run after a
    change): the ``entries``, what lies inside them, and the folders above.
    """

    def __init__(self, entries: Collection[str]) -> None:
        self.entries = set(entries)
        self.above = {a for entry in self.entries for a in folders_above(entry)}

    def inside(self, rel: str) -> bool:
        """At or below one of the entries."""
        return rel in self.entries or any(a in self.entries for a in folders_above(rel))

    def near(self, rel: str) -> bool:
        """Inside, or a folder above an entry."""
        return rel in self.above or self.inside(rel)


def narrow(view: ViewSpec, part: ViewPart) -> ViewSpec:
    """The part of a view a narrowed run plans: what lies at or below one
    of the part's entries, plus the links and files standing where their
    folders must go. Everything else is left out, so it is left as it is. A
    folder above the entries is planned (so pruned, when the run empties
    it) only when everything in it is planned too.
    """
    inside, near, above = part.inside, part.near, part.above
    state = view.state
    links = {r: link for r, link in state.links.items() if near(r)}
    files = {r for r in state.files if near(r)}
    dirs = {r for r in state.dirs if inside(r)}
    children: dict[str, list[str]] = {}
    for rel in (*state.links, *state.files, *state.dirs):
        parent = parent_of(rel)
        if parent in above:
            children.setdefault(parent, []).append(rel)
    for folder in sorted(above & state.dirs, key=depth_of, reverse=True):
        if all(c in links or c in files or c in dirs for c in children.get(folder, ())):
            dirs.add(folder)
    narrowed = ViewState(
        links=links,
        files=files,
        dirs=dirs,
        unreadable={r for r in state.unreadable if inside(r)},
    )
    return ViewSpec(
        view.name,
        view.root,
        {r: t for r, t in view.desired.items() if inside(r)},
        narrowed,
        {r: rec for r, rec in view.records.items() if near(r)},
    )
