"""Where the plugin may put files: never among the library's own.

A quarantine inside the library directory would be music beets may import,
move or prune; one that holds library items, or sits in a folder that does,
would put copies next to the keepers (`… .1.flac`) and mix them with the
library. Such places are refused before anything moves.
"""

from __future__ import annotations

import os

from beets import util
from beets.library import Item, Library

_PATH_TYPE = Item._fields["path"]


def _within(path: bytes, folder: bytes) -> bool:
    """Whether `path` is `folder` or below it (both normalised)."""
    folder = folder.rstrip(os.sep.encode())
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
    if _within(folder, libdir):
        return (
            f"{what} {shown} is inside the library directory "
            f"{util.displayable_path(libdir)}: choose a folder outside it"
        )
    for items_folder in item_folders(lib):
        if _within(items_folder, folder):
            return f"{what} {shown} holds library items: choose an empty folder"
        if _within(folder, items_folder):
            return (
                f"{what} {shown} is inside {util.displayable_path(items_folder)}, "
                "which holds library items: choose a folder outside it"
            )
    return None
