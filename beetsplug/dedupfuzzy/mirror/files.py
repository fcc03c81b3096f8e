"""The library's items as the mirror links them: which files are there,
which recording each item is, and where a link's target really is.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from beets.library import Library

from ..store.recordings import load_recordings
from .albums import Track
from .model import DesiredViews
from .stamp import FolderTimes


def recordings_of(lib: Library, ids: Iterable[int] | None = None) -> dict[int, int]:
    """Item id -> recording id (of the items of ``ids``, or of all): the one
    place the mirror learns which items are one recording, from the
    recording model (``store.recordings``).
    """
    return load_recordings(lib, ids)


def split_unusable(
    tracks: Iterable[Track], times: FolderTimes | None = None
) -> tuple[list[Track], list[tuple[str, str]]]:
    """Tracks whose file is there, and (path, reason) for the others.

    Each folder is listed once: ``os.scandir`` knows which names are files
    without a ``stat`` per file; only the others are looked at closer.
    ``times`` takes each folder's modification time first (see ``stamp``).
    """
    usable, unusable = [], []
    listed: dict[str, tuple[set[str], set[str]]] = {}
    for track in tracks:
        folder = track.folder
        listing = listed.get(folder)
        if listing is None:
            if times is not None:
                times.take(folder)
            listing = listed[folder] = _files_in(folder)
        files, symlinks = listing
        name = track.path[len(folder) + 1 :]
        if name in files:
            usable.append(track)
            if symlinks and name in symlinks and times is not None:
                times.stampable = False  # its target may go unseen
        else:
            unusable.append((track.path, _why_unusable(track.path)))
    return usable, unusable


def _files_in(folder: str) -> tuple[set[str], set[str]]:
    """The names of the (links to) regular files in a folder, and of the
    symlinks among them.
    """
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return set(), set()
    try:
        files = {entry.name for entry in entries if entry.is_file()}
    except OSError:  # a link that cannot be followed: one by one
        files = {entry.name for entry in entries if _is_file(entry)}
    symlinks = {entry.name for entry in entries if entry.is_symlink()}
    return files, symlinks & files


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _why_unusable(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "dangling link" if os.path.islink(path) else "file missing"
    except OSError as exc:
        return exc.strerror or str(exc)
    return "a folder, not a file" if stat.S_ISDIR(mode) else "not a regular file"


def real_targets(desired: DesiredViews) -> DesiredViews:
    """Targets through real folders, so relative links resolve from real views."""
    memo: dict[str, str] = {}

    def real(path: str) -> str:
        folder, name = os.path.split(path)
        if folder not in memo:
            memo[folder] = os.path.realpath(folder)
        return os.path.join(memo[folder], name)

    return DesiredViews(
        high={rel: real(t) for rel, t in desired.high.items()},
        low={rel: real(t) for rel, t in desired.low.items()},
    )
