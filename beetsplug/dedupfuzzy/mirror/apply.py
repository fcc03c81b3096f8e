"""Applying a mirror plan to the filesystem, one safe step at a time.

Every step re-checks what it is about to touch, because the plan was made
from a snapshot: only symbolic links are ever removed or replaced, only
empty folders are pruned (``os.rmdir`` refuses anything else), and a link is
replaced by renaming a fresh link over it (``os.replace``), so the path is
never missing and a real file or folder is never overwritten. A step that
fails is recorded and the run goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from .model import Action, ActionKind, MirrorPlan


class MirrorStepError(Exception):
    """A planned step found the filesystem not as the plan expected."""


@dataclass
class ApplyReport:
    """What applying a plan did: the steps done and the steps that failed."""

    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)

    def count(self, kind: ActionKind) -> int:
        """How many steps of one kind were done."""
        return sum(1 for action in self.done if action.kind is kind)


def apply_plan(
    plan: MirrorPlan,
    *,
    on_done: Callable[[Action], None] | None = None,
    on_failed: Callable[[Action, str], None] | None = None,
) -> ApplyReport:
    """Perform the plan's changes in order; conflicts and keeps are skipped."""
    report = ApplyReport()
    folders = _FolderMaker()
    for action in plan.changes:
        try:
            if action.kind is ActionKind.CREATE:
                folders.make_parents(action)
                os.symlink(action.link_text, action.path)
            elif action.kind is ActionKind.REPLACE:
                _replace_link(action)
            elif action.kind is ActionKind.REMOVE:
                _remove_link(action.path)
            elif action.kind is ActionKind.PRUNE:
                os.rmdir(action.path)
        except (OSError, MirrorStepError) as exc:
            reason = _reason(exc)
            report.failed.append((action, reason))
            if on_failed is not None:
                on_failed(action, reason)
        else:
            report.done.append(action)
            if on_done is not None:
                on_done(action)
    return report


class _FolderMaker:
    """Creates the real folders above new links, one level at a time.

    ``os.makedirs`` would follow a symlinked folder in the way and create
    the link somewhere else; this refuses anything that is not a real folder.
    """

    def __init__(self) -> None:
        self.known: set[str] = set()

    def make_parents(self, action: Action) -> None:
        root = action.root
        if root not in self.known:
            os.makedirs(root, exist_ok=True)
            self.known.add(root)
        folder = root
        for part in os.path.dirname(action.rel).split(os.sep):
            if not part:
                continue
            folder = os.path.join(folder, part)
            if folder in self.known:
                continue
            try:
                os.mkdir(folder)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    raise MirrorStepError(
                        f"{folder} is in the way and is not a folder"
                    ) from None
            self.known.add(folder)


def _replace_link(action: Action) -> None:
    path = action.path
    _require_link(path)
    temp = os.path.join(
        os.path.dirname(path), f".{os.path.basename(path)}.mirror-{os.getpid()}"
    )
    if os.path.islink(temp):
        os.unlink(temp)
    os.symlink(action.link_text, temp)
    try:
        # rename() replaces the link itself, never what it points to, and
        # refuses to replace a folder with a link.
        os.replace(temp, path)
    except OSError:
        os.unlink(temp)
        raise


def _remove_link(path: str) -> None:
    _require_link(path)
    os.unlink(path)


def _require_link(path: str) -> None:
    if not stat.S_ISLNK(os.lstat(path).st_mode):
        raise MirrorStepError(f"{path} is no longer a link; left alone")


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename or ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    return str(exc)
