"""What happens to the copies not kept: plan first, then do.

A plan is a plain list of `Action`s computed from the resolved groups;
`--pretend` prints it, otherwise `apply_actions` carries it out: moves go
through the journal (so they can be undone), tags are stored on the items.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from beets import util
from beets.library import Library

from ..display import one_line, shown
from ..matching.groups import ResolvedGroup
from ..store.fields import Row
from ..store.rowsync import uncache
from .safemove import prune_empty_dirs

MOVE = "move"
TAG = "tag"


@dataclass(frozen=True)
class Action:
    kind: str
    row: Row
    destination: bytes = b""
    field: str = ""
    value: str = ""

    def describe(self) -> str:
        src = shown(self.row.path)
        if self.kind == MOVE:
            return f"move {src} -> {shown(self.destination)}"
        return f"tag {src}: {self.field}={one_line(self.value)}"


def quarantine_destination(src: bytes, quarantine: bytes, libdir: bytes) -> bytes:
    """Where a copy goes: its path relative to the library, under the quarantine.

    Files outside the library directory keep their whole path under an
    `_outside` folder, so two of them never land on one name.
    """
    src = util.normpath(src)
    libdir = util.normpath(libdir)
    if src.startswith(libdir.rstrip(os.sep.encode()) + os.sep.encode()):
        rel = os.path.relpath(src, libdir)
    else:
        rel = os.path.join(b"_outside", src.lstrip(os.sep.encode()))
    return os.path.join(quarantine, rel)


def parse_tag(text: str) -> tuple[str, str]:
    field, sep, value = text.partition("=")
    if not sep or not field.strip():
        raise ValueError(f"--tag wants key=value, got {text!r}")
    return field.strip(), value


def plan_actions(
    leaving: Iterable[Row],
    *,
    quarantine: bytes = b"",
    libdir: bytes = b"",
    tag: str = "",
) -> list[Action]:
    """One action per copy that leaves: a move when a quarantine is set, else a tag."""
    actions = []
    for row in leaving:
        if quarantine:
            dst = quarantine_destination(row.path, quarantine, libdir)
            actions.append(Action(MOVE, row, destination=dst))
        elif tag:
            field, value = parse_tag(tag)
            actions.append(Action(TAG, row, field=field, value=value))
    return actions


def leaving_rows(groups: Iterable[ResolvedGroup]) -> list[Row]:
    seen: set[int] = set()
    rows = []
    for g in groups:
        for m in g.leaving:
            if m.row.id not in seen:
                seen.add(m.row.id)
                rows.append(m.row)
    return rows


@dataclass
class Outcome:
    moved: int = 0
    tagged: int = 0
    failed: int = 0


def apply_actions(
    lib: Library,
    actions: list[Action],
    journal,
    report: Callable[[str], None],
) -> Outcome:
    """Carry out a plan; a failing action is reported and the rest goes on."""
    outcome = Outcome()
    run_id = None
    for action in actions:
        item = lib.get_item(action.row.id)
        if item is None:
            continue
        try:
            if action.kind == MOVE:
                if run_id is None:
                    run_id = journal.start_run()
                final = journal.quarantine(run_id, item, action.destination)
                prune_empty_dirs(os.path.dirname(action.row.path), lib.directory)
                report(f"moved {shown(action.row.path)} -> {shown(final)}")
                outcome.moved += 1
            else:
                item[action.field] = action.value
                item.store()
                uncache(lib, [item.id])
                outcome.tagged += 1
        except (OSError, util.FilesystemError) as exc:
            report(f"error: {shown(action.row.path)}: {one_line(str(exc))}")
            outcome.failed += 1
    return outcome
