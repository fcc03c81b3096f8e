"""Where the plugin may put files: never among the library's own.

A quarantine inside the library directory would be music beets may import,
move or prune; one that holds library items, or sits in a folder that does,
would put copies next to the keepers (`… .1.flac`) and mix them with the
library. Such places are refused before anything moves.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from beets import util
from beets.library import Item, Library

_PATH_TYPE = Item._fields["path"]


def within(path: bytes | str, folder: bytes | str) -> bool:
    """Whether `path` is `folder` or below it, compared as normalised
    absolute paths (symlinks are not resolved: callers that must see
    through them pass real paths)."""
    path = util.normpath(path)
    folder = util.normpath(folder).rstrip(os.sep.encode())
    return path == folder or path.startswith(folder + os.sep.encode())


def item_folders(lib: Library) -> set[bytes]:
    """The folders holding library items, read with one query."""
    with lib.music_dir_context(), lib.transaction() as tx:
        rows = tx.query("SELECT path FROM items")
        paths = [_PATH_TYPE.from_sql(r[0]) for r in rows if r[0]]
    return {os.path.dirname(util.normpath(p)) for p in paths}


def place_refusal(lib: Library, folder: bytes, what: str) -> str | None:
    """Why `folder` may not receive the plugin's files, in one line; None if
    it may. `what` names it for the user ("the quarantine")."""
    folder = util.normpath(folder)
    shown = util.displayable_path(folder)
    libdir = util.normpath(lib.directory)
    if within(folder, libdir):
        return (
            f"{what} {shown} is inside the library directory "
            f"{util.displayable_path(libdir)}: choose a folder outside it"
        )
    conflict = items_conflict(
        os.fsdecode(folder), {os.fsdecode(f) for f in item_folders(lib)}
    )
    if conflict is None:
        return None
    how, items_folder = conflict
    if how == HOLDS:
        return f"{what} {shown} holds library items: choose an empty folder"
    return (
        f"{what} {shown} is inside {util.displayable_path(items_folder)}, "
        "which holds library items: choose a folder outside it"
    )


INSIDE = "inside"
HOLDS = "holds"


def items_conflict(
    folder: str, item_folders: Collection[str]
) -> tuple[str, str] | None:
    """How `folder` mixes with the library's music: (INSIDE, f) when it lies in
    a folder `f` holding library items, (HOLDS, f) when it holds one; None when
    neither. The path as given and its real path are both checked. The one
    rule for the quarantine and the mirror's views."""
    folders = item_folders if isinstance(item_folders, set) else set(item_folders)
    for probe in {os.path.abspath(folder), os.path.realpath(folder)}:
        current, parent = probe, os.path.dirname(probe)
        while True:
            if current in folders:
                return INSIDE, current
            if parent == current:
                break
            current, parent = parent, os.path.dirname(parent)
        prefix = probe.rstrip(os.sep) + os.sep
        holds = next((f for f in folders if f.startswith(prefix)), None)
        if holds is not None:
            return HOLDS, holds
    return None
