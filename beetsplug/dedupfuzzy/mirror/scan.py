"""Reading the filesystem for the mirror: source entries and view states.

Both readers use ``os.scandir`` and only ever read. A source is read down to
the entry depth and no further, so the files inside album folders are never
listed; a view is read through its real folders, never through its links.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from .model import ExistingLink, RecordedLink, ViewState
from .narrowing import ViewPart


@dataclass
class SourceScan:
    """The entries found in one source folder, and what got in the way.

    ``entries`` maps each entry's path relative to the source to its
    absolute path. ``unreadable`` lists absolute folders whose content is
    unknown, so links into them must not be taken for stale.
    """

    root: str
    entries: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)


def scan_source(
    root: str,
    depth: int,
    *,
    follow_symlinks: bool = False,
    skip: Collection[str] = (),
) -> SourceScan:
    """Find the entries of a source: folders exactly ``depth`` levels below
    ``root``, and files lying at ``depth`` or above (loose files).

    A symlinked folder above the entry depth is descended only with
    ``follow_symlinks``; at the entry depth it is an entry like any folder,
    since linking to it needs no descent. The recursion stops at the entry
    depth, so links pointing back up cannot make it loop. Folders in
    ``skip`` (absolute paths, such as views inside a source) are ignored.
    """
    scan = SourceScan(root)
    pending: list[tuple[str, str, int]] = [(root, "", 0)]
    while pending:
        folder, prefix, level = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = list(listing)
        except OSError as exc:
            scan.unreadable.append(folder)
            scan.problems.append(f"cannot read {folder}: {exc.strerror or exc}")
            continue
        level += 1
        for child in children:
            path = child.path
            if path in skip:
                continue
            rel = prefix + child.name
            try:
                is_dir = child.is_dir()
                is_link = child.is_symlink()
                is_file = not is_dir and child.is_file()
            except OSError as exc:
                scan.problems.append(f"cannot read {path}: {exc.strerror or exc}")
                continue
            if is_dir:
                if level == depth:
                    scan.entries[rel] = path
                elif follow_symlinks or not is_link:
                    pending.append((path, rel + os.sep, level))
                else:
                    scan.skipped_links.append(path)
            elif is_file:
                scan.entries[rel] = path
            elif is_link:
                scan.problems.append(f"skipped dangling link {path}")
    return scan


def scan_view(
    root: str,
    recorded: Mapping[str, RecordedLink] | None = None,
    part: ViewPart | None = None,
) -> tuple[ViewState, list[str]]:
    """Read what a view folder holds now, without following any link.

    A missing view is empty. Folders that cannot be listed are recorded in
    ``ViewState.unreadable`` and reported, one line each. Whether a link
    dangles is checked only for links not in ``recorded`` (the mirror's own,
    as the ownership record lists them): planning needs it only to claim an
    unrecorded link, and a re-run then costs one ``readlink`` per link.

    With ``part`` (a narrowed run) only the folders near the part are
    descended; what lies elsewhere in them is listed by kind and not read
    (a link's text is left empty), which is all ``narrowing.narrow`` asks of it.
    """
    recorded = recorded or {}
    state = ViewState()
    problems: list[str] = []
    if not os.path.isdir(root):
        return state, problems
    pending: list[tuple[str, str]] = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = list(listing)
        except OSError as exc:
            state.unreadable.add(prefix.rstrip(os.sep))
            problems.append(f"cannot read {folder}: {exc.strerror or exc}")
            continue
        for child in children:
            rel = prefix + child.name
            try:
                if part is not None and not part.near(rel):
                    if child.is_symlink():
                        state.links[rel] = ExistingLink("")
                    elif child.is_dir(follow_symlinks=False):
                        state.dirs.add(rel)
                    else:
                        state.files.add(rel)
                elif child.is_symlink():
                    text = os.readlink(child.path)
                    mine = recorded.get(rel)
                    dangling = (mine is None or mine.text != text) and not (
                        os.path.exists(child.path)
                    )
                    state.links[rel] = ExistingLink(text, dangling)
                elif child.is_dir(follow_symlinks=False):
                    state.dirs.add(rel)
                    pending.append((child.path, rel + os.sep))
                else:
                    state.files.add(rel)
            except OSError as exc:
                # Whatever cannot be read is treated as a real file: left alone.
                state.files.add(rel)
                problems.append(f"cannot read {child.path}: {exc.strerror or exc}")
    return state, problems
