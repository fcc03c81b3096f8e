"""The mirror's data: what a view holds, what it should hold, and the steps.

Plain values shared by the readers (``scan``), the planner (``plan``), the
doer (``apply``) and the ownership record (``record``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from ..display import one_line

Entries = Mapping[str, str]
"""Entries of one side: path relative to the view -> absolute target path."""


class ActionKind(Enum):
    """What the mirror does (or declines to do) at one path of a view."""

    REMOVE = "remove"
    PRUNE = "prune"
    REPLACE = "replace"
    CREATE = "create"
    FOREIGN = "foreign"
    CONFLICT = "conflict"
    KEEP = "keep"


CHANGES = frozenset(
    {ActionKind.CREATE, ActionKind.REPLACE, ActionKind.REMOVE, ActionKind.PRUNE}
)


class ExistingLink(NamedTuple):
    """A symbolic link found in a view: its text and whether it dangles."""

    text: str
    dangling: bool = False


class RecordedLink(NamedTuple):
    """A link the mirror made, as its ownership record holds it: the link's
    text, the absolute path it leads to, and the library item it shows
    (None in directory mode).
    """

    text: str
    target: str
    item: int | None = None


@dataclass
class ViewState:
    """What a view folder holds now, keyed by path relative to the view.

    Symbolic links are not followed, so nothing below a link is listed.
    """

    links: dict[str, ExistingLink] = field(default_factory=dict)
    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)


class DesiredViews(NamedTuple):
    """The entries each view should show, as ``relative path -> target``."""

    high: dict[str, str]
    low: dict[str, str]


@dataclass(frozen=True)
class ViewSpec:
    """One view to plan: its name, its absolute root, what it should hold
    and what it holds now.
    """

    name: str
    root: str
    desired: Entries
    state: ViewState
    records: Mapping[str, RecordedLink] = field(default_factory=dict)


class Action(NamedTuple):
    """One step of the plan at one path of a view (a tuple: a big view
    makes tens of thousands of them).

    ``link_text`` is what a created, replaced or kept link contains and
    ``target`` the absolute path it leads to; both are empty for other kinds.
    ``owned`` marks a kept link the mirror owns after the run.
    """

    kind: ActionKind
    view: str
    root: str
    rel: str
    reason: str = ""
    link_text: str = ""
    target: str = ""
    owned: bool = False

    @property
    def path(self) -> str:
        """The absolute path in the view this action is about."""
        return os.path.join(self.root, self.rel)

    def describe(self) -> str:
        """One line for people: what happens where, and why."""
        line = f"{self.kind.value} {self.view}:{self.rel}"
        if self.target:
            line += f" -> {self.target}"
        if self.reason:
            line += f" ({self.reason})"
        return one_line(line)


@dataclass
class MirrorPlan:
    """Every action for every view, in the order they are to be applied."""

    actions: list[Action] = field(default_factory=list)

    def count(self, kind: ActionKind) -> int:
        """How many actions of one kind the plan holds."""
        return sum(1 for action in self.actions if action.kind is kind)

    @property
    def changes(self) -> list[Action]:
        """The actions that change the filesystem, in order."""
        return [action for action in self.actions if action.kind in CHANGES]

    @property
    def problems(self) -> list[Action]:
        """The conflicts and foreign links left in place."""
        return [
            action
            for action in self.actions
            if action.kind in (ActionKind.CONFLICT, ActionKind.FOREIGN)
        ]
