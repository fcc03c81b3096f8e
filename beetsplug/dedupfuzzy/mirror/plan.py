"""Mirror planning: which links each view should hold, and how to get there.

Everything here is pure. The input is plain data: for each side ("high" and
"low") a mapping of entries, ``relative path -> absolute target path``, and
for each view what its folder holds now (a :class:`ViewState`). The output
is a :class:`MirrorPlan`, a list of actions that ``apply`` performs
and ``--pretend`` prints.

The rules the plan follows:

- An entry becomes a symbolic link at its relative path in the view; the
  folders above it are real folders.
- A link belongs to the mirror when the ownership record (``records``: the
  links the mirror made, kept in the library DB) lists it at that path with
  that very text. The mirror's links are replaced when wrong or dangling and
  removed when their entry is gone. A link that is not recorded but stands
  where an entry goes and dangles into one of the *dangling roots* (the
  sources, the library's folders: a link an older version made, whose
  target moved away) is replaced too; elsewhere it is left alone. A real
  folder that held only the mirror's links and is emptied by the plan is
  pruned.
- Any other link is *foreign*: replaced (and from then on owned) only when
  the caller allows it (``--overwrite-symlinks``), otherwise left and
  reported; a foreign link nobody asks for is never touched.
- Real files and real folders are never replaced or removed; where one is
  in the way the plan reports a conflict.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable

from .model import (
    Action,
    ActionKind,
    DesiredViews,
    Entries,
    ExistingLink,
    MirrorPlan,
    ViewSpec,
)
from .relpaths import depth_of, folders_above, parent_of

# The order in which actions are applied: make room first, then fill it.
_PHASE = {kind: index for index, kind in enumerate(ActionKind)}


def choose_views(entries_high: Entries, entries_low: Entries) -> DesiredViews:
    """Merge both sides into the "high" and "low" views.

    The high view shows the high entry where there is one, else the low one;
    the low view the other way round. A fallback entry that would sit inside
    a preferred entry, or hold one inside it, is hidden by the preferred one,
    just as an entry at the same path is.
    """
    return DesiredViews(
        high=_merge_preferring(entries_high, entries_low),
        low=_merge_preferring(entries_low, entries_high),
    )


def _merge_preferring(preferred: Entries, fallback: Entries) -> dict[str, str]:
    merged = dict(preferred)
    folders = {folder for rel in preferred for folder in folders_above(rel)}
    for rel, target in fallback.items():
        if rel in merged or rel in folders:
            continue
        if any(folder in preferred for folder in folders_above(rel)):
            continue
        merged[rel] = target
        folders.update(folders_above(rel))
    return merged


def plan_mirror(
    views: Iterable[ViewSpec],
    *,
    dangling_roots: Collection[str],
    relative: bool = False,
    overwrite_symlinks: bool = False,
    uncertain: Collection[str] = (),
) -> MirrorPlan:
    """Plan every view; see :func:`plan_view` for the arguments."""
    plan = MirrorPlan()
    for view in views:
        plan.actions.extend(
            plan_view(
                view,
                dangling_roots=dangling_roots,
                relative=relative,
                overwrite_symlinks=overwrite_symlinks,
                uncertain=uncertain,
            )
        )
    return plan


def plan_view(
    view: ViewSpec,
    *,
    dangling_roots: Collection[str],
    relative: bool = False,
    overwrite_symlinks: bool = False,
    uncertain: Collection[str] = (),
) -> list[Action]:
    """Compare what one view should hold with what it holds; list the steps.

    ``dangling_roots`` are absolute folders: an unrecorded link dangling
    into one of them is the mirror's (see the module rules). ``uncertain``
    are absolute source folders that could not be read: a link into one of
    them is kept even if no entry asks for it, so an unreadable folder never
    empties a view. With ``relative`` the links
    are written relative to their own folder, otherwise absolute.
    """
    planner = _ViewPlanner(
        view,
        dangling_roots=frozenset(os.path.normpath(r) for r in dangling_roots),
        uncertain_prefixes=_prefixes(uncertain),
        relative=relative,
        overwrite_symlinks=overwrite_symlinks,
    )
    return planner.plan()


class _ViewPlanner:
    """The working state of :func:`plan_view` for one view."""

    def __init__(
        self,
        view: ViewSpec,
        *,
        dangling_roots: frozenset[str],
        uncertain_prefixes: tuple[str, ...],
        relative: bool,
        overwrite_symlinks: bool,
    ) -> None:
        self.view = view
        self.state = view.state
        self.dangling_roots = dangling_roots
        self.uncertain_prefixes = uncertain_prefixes
        self.relative = relative
        self.overwrite = overwrite_symlinks
        self.actions: list[Action] = []
        self.removed: set[str] = set()
        self.blockers: set[str] = set()

    def plan(self) -> list[Action]:
        entries = self._entries_not_nested()
        folders = {folder for rel in entries for folder in folders_above(rel)}
        self._plan_stray_links(entries, folders)
        self._plan_files_in_the_way(folders)
        prunable = self._plan_prunes(folders)
        for rel in sorted(entries):
            self._plan_entry(rel, entries[rel], prunable)
        self.actions.sort(key=_apply_order)
        return self.actions

    def _add(self, kind: ActionKind, rel: str, reason: str = "", **link) -> None:
        action = Action(kind, self.view.name, self.view.root, rel, reason, **link)
        self.actions.append(action)

    def _entries_not_nested(self) -> dict[str, str]:
        """Drop (and report) entries that lie inside another entry."""
        desired = self.view.desired
        entries: dict[str, str] = {}
        for rel, target in desired.items():
            outer = next((a for a in folders_above(rel) if a in desired), None)
            if outer is None:
                entries[rel] = target
            else:
                self._add(ActionKind.CONFLICT, rel, f"inside the entry {outer}")
        return entries

    def _plan_stray_links(self, entries: Entries, folders: set[str]) -> None:
        """Links that no entry asks for: remove ours, leave the others."""
        for rel, link in self.state.links.items():
            if rel in entries:
                continue
            owned = self._recorded(rel, link)
            if rel in folders:
                if owned:
                    self._remove(rel, "a folder is needed here")
                elif self.overwrite:
                    self._remove(rel, "foreign link where a folder is needed")
                else:
                    self.blockers.add(rel)
                    self._add(
                        ActionKind.FOREIGN,
                        rel,
                        "foreign link where a folder is needed; "
                        "--overwrite-symlinks replaces it",
                    )
            elif owned:
                if self._uncertain(rel, link):
                    self._add(
                        ActionKind.KEEP,
                        rel,
                        "its source folder could not be read",
                        **self._kept(rel, link),
                    )
                elif link.dangling:
                    self._remove(rel, "dangling, its entry left the sources")
                else:
                    self._remove(rel, "its entry left the sources")

    def _plan_files_in_the_way(self, folders: set[str]) -> None:
        for rel in self.state.files:
            if rel in folders:
                self.blockers.add(rel)
                self._add(
                    ActionKind.CONFLICT, rel, "a real file is where a folder is needed"
                )

    def _plan_prunes(self, folders: set[str]) -> set[str]:
        """Real folders emptied by the removals: prune them, deepest first.

        A folder is pruned only if it held something and everything in it is
        being removed, so a folder that was already empty (someone else's)
        stays, and so does every folder the entries still need.
        """
        state = self.state
        children: dict[str, list[str]] = {}
        for rel in (*state.links, *state.files, *state.dirs):
            children.setdefault(os.path.dirname(rel), []).append(rel)
        prunable: set[str] = set()
        for rel in sorted(state.dirs, key=depth_of, reverse=True):
            if rel in folders or rel in state.unreadable:
                continue
            inside = children.get(rel)
            if inside and all(c in self.removed or c in prunable for c in inside):
                prunable.add(rel)
                self._add(ActionKind.PRUNE, rel, "emptied by the mirror")
        return prunable

    def _plan_entry(self, rel: str, target: str, prunable: set[str]) -> None:
        if self.blockers and any(f in self.blockers for f in folders_above(rel)):
            return
        state = self.state
        text = self._link_text(rel, target)
        link = {"link_text": text, "target": target}
        existing = state.links.get(rel)
        if existing is not None:
            if self._same_link(rel, existing.text, text, target):
                owned = self._owns(rel, existing)
                if owned or self.overwrite:
                    reason = "" if owned else "taken over"
                    self._add(ActionKind.KEEP, rel, reason, **link, owned=True)
                else:
                    self._add(ActionKind.KEEP, rel, "not made by the mirror")
            elif self._owns(rel, existing):
                reason = self._replace_reason(rel, existing, target)
                self._add(ActionKind.REPLACE, rel, reason, **link)
            elif self.overwrite:
                self._add(ActionKind.REPLACE, rel, "foreign link", **link)
            else:
                self._add(
                    ActionKind.FOREIGN,
                    rel,
                    f"foreign link to {existing.text}; "
                    "--overwrite-symlinks replaces it",
                )
        elif rel in state.files:
            self._add(ActionKind.CONFLICT, rel, "a real file is in the way")
        elif rel in state.dirs and rel not in prunable:
            self._add(ActionKind.CONFLICT, rel, "a real folder is in the way")
        else:
            self._add(ActionKind.CREATE, rel, **link)

    def _replace_reason(self, rel: str, link: ExistingLink, target: str) -> str:
        if link.dangling:
            return "dangling"
        if self._resolve(rel, link.text) == os.path.normpath(target):
            return "relative link" if self.relative else "absolute link"
        return f"was {link.text}"

    def _remove(self, rel: str, reason: str) -> None:
        self.removed.add(rel)
        self._add(ActionKind.REMOVE, rel, reason)

    def _link_text(self, rel: str, target: str) -> str:
        if not self.relative:
            return target
        return os.path.relpath(target, os.path.join(self.view.root, parent_of(rel)))

    def _resolve(self, rel: str, text: str) -> str:
        """Where a link's text leads, lexically (without following links)."""
        folder = os.path.join(self.view.root, parent_of(rel))
        return os.path.normpath(os.path.join(folder, text))

    def _same_link(self, rel: str, text: str, wanted: str, target: str) -> bool:
        if text == wanted:
            return True
        if os.path.isabs(text) == self.relative:
            return False
        return self._resolve(rel, text) == os.path.normpath(target)

    def _recorded(self, rel: str, link: ExistingLink) -> bool:
        recorded = self.view.records.get(rel)
        return recorded is not None and recorded.text == link.text

    def _owns(self, rel: str, link: ExistingLink) -> bool:
        """Whether a link at an entry's path is the mirror's to replace."""
        if self._recorded(rel, link):
            return True
        if not link.dangling or not self.dangling_roots:
            return False
        # Many roots (every folder of library items): walk up, look each up.
        path = self._resolve(rel, link.text)
        parent = os.path.dirname(path)
        while parent != path:
            if parent in self.dangling_roots:
                return True
            path, parent = parent, os.path.dirname(parent)
        return False

    def _kept(self, rel: str, link: ExistingLink) -> dict:
        recorded = self.view.records.get(rel)
        target = recorded.target if recorded else self._resolve(rel, link.text)
        return {"link_text": link.text, "target": target, "owned": True}

    def _uncertain(self, rel: str, link: ExistingLink) -> bool:
        if not self.uncertain_prefixes:
            return False
        return _inside(self._resolve(rel, link.text), self.uncertain_prefixes)


def _apply_order(action: Action) -> tuple[int, int, str]:
    # Prunes go deepest first; everything else in path order.
    depth = -depth_of(action.rel) if action.kind is ActionKind.PRUNE else 0
    return (_PHASE[action.kind], depth, action.rel)


def _prefixes(roots: Collection[str]) -> tuple[str, ...]:
    """Normalised roots, each ending with a separator, for prefix tests."""
    out = []
    for root in roots:
        norm = os.path.normpath(root)
        out.append(norm if norm.endswith(os.sep) else norm + os.sep)
    return tuple(out)


def _inside(path: str, prefixes: tuple[str, ...]) -> bool:
    probe = path + os.sep
    return any(probe.startswith(prefix) for prefix in prefixes)
