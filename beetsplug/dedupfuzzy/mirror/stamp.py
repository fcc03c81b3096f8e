"""Knowing cheaply that a library-mode run would change nothing: the stamp.

A run that left the views exactly as it planned them (every link made or
kept and recorded, nothing in the way, nothing failed) stores a *stamp* in
the library DB: a digest of everything its plan was made from that lives in
the DB and the configuration (the options, each item's columns that the
template and the keeper read, each item's recording), and the modification
time of every folder holding library items (a file added, removed or
renamed in a folder changes its time).

The next run without a QUERY computes the same digest (one SQL query) and
stats those folders. When both match, the plan would consist of exactly the
links the ownership record lists, so the run only checks that each recorded
link is still there with its text (one ``readlink`` each) and stops. Any
difference (an item changed, a file moved, a link deleted or replaced
behind the mirror's back) makes it a full run.

A folder changed less than :data:`RACY_SECONDS` before it was read is not
stamped: a change in the same tick of the file system's clock would not
show in its time. Neither is a library whose item files are symlinks (their
targets can vanish without a folder changing), nor a template or a keeper
that reads more than the items table.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from beets import config as beets_config
from beets import util
from beets.library import Library

from .ledger import Ledger
from .record import STAMP_SCHEMA, STAMP_TABLE
from .record import TABLE as LINKS

# Bump when the rules change what a plan holds for the same library.
VERSION = "3"
RACY_SECONDS = 2.0
MISSING = -1


@dataclass
class FolderTimes:
    """The modification time of each folder holding library items, taken
    before the folder is read; ``stampable`` turns false when the reading
    saw something a stamp cannot vouch for.
    """

    times: dict[str, int]
    started: int
    stampable: bool = True

    @classmethod
    def start(cls) -> FolderTimes:
        return cls({}, time.time_ns())

    def take(self, folder: str) -> None:
        """Stat ``folder`` (before it is listed)."""
        mtime = folder_time(folder)
        self.times[folder] = mtime
        if mtime > self.started - int(RACY_SECONDS * 1e9):
            self.stampable = False


@dataclass(frozen=True)
class Stamp:
    """What the last settled run was made from."""

    digest: str
    folders: dict[str, int]
    unusable: list[tuple[str, str]]
    links: int
    # What the options alone digest to, and the run item by item: what a
    # run after a change needs to plan only what changed.
    settings: str = ""
    ledger: Ledger | None = None


def folder_time(folder: str) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return MISSING


class ItemRows:
    """Every item as the stamp digests it: its ``columns`` (SQL over
    ``items`` joined with ``albums``) and its flexible ``attributes`` (its
    recording, what the keeper ranks by), one row of text per item.

    SQLite writes each value as an SQL literal (``quote``: typed, quotes
    escaped, so two different libraries never give the same text) and joins
    them, so Python handles one value per item instead of a dozen.
    """

    def __init__(
        self, lib: Library, columns: Iterable[str], attributes: Sequence[str]
    ) -> None:
        flex = [f"a{n}" for n in range(len(attributes))]
        row = " || ',' || ".join(
            f"quote({c})" for c in [*columns, *(f"{a}.value" for a in flex)]
        )
        joins = "".join(
            f" LEFT JOIN item_attributes AS {a}"
            f" ON {a}.entity_id = items.id AND {a}.key = ?"
            for a in flex
        )
        query = (
            f"SELECT items.id, CAST({row} AS BLOB)"
            f" FROM items LEFT JOIN albums ON albums.id = items.album_id{joins}"
            " ORDER BY items.id"
        )
        with lib.transaction() as tx:
            rows = tx.query(query, tuple(attributes))
        self.ids = array("q", [row[0] for row in rows])
        self.texts: list[bytes] = [row[1] or b"" for row in rows]
        self._hashes: array | None = None

    def digest(self, options: Iterable[object]) -> str:
        """A digest of the options and of every item's row."""
        hasher = hashlib.blake2b(digest_size=20)
        hasher.update(json.dumps([VERSION, *map(repr, options)]).encode())
        hasher.update(b"\n".join(self.texts))
        return hasher.hexdigest()

    def hashes(self) -> array:
        """A 64-bit hash of each item's row, in the order of ``ids``."""
        if self._hashes is None:
            blake = hashlib.blake2b
            found = array("q")
            found.frombytes(
                b"".join(blake(t, digest_size=8).digest() for t in self.texts)
            )
            self._hashes = found
        return self._hashes


def settings_digest(options: Iterable[object]) -> str:
    """A digest of the options alone: when they change, nothing is reused."""
    text = json.dumps([VERSION, *map(repr, options)]).encode()
    return hashlib.blake2b(text, digest_size=20).hexdigest()


def config_of(lib: Library) -> list[object]:
    """The beets settings a link's name depends on."""
    return [
        os.fsdecode(lib.directory),
        repr(lib.replacements),
        beets_config["path_sep_replace"].get(),
        beets_config["drive_sep_replace"].get(),
        beets_config["asciify_paths"].get(),
        util.get_max_filename_length(),
    ]


def load(lib: Library) -> Stamp | None:
    try:
        with lib.transaction() as tx:
            rows = tx.query(
                f"SELECT digest, folders, unusable, links, settings, ledger"
                f" FROM {STAMP_TABLE}"
            )
    except sqlite3.OperationalError:  # no table yet, or an older one
        return None
    for text, folders, unusable, links, settings, ledger in rows:
        return Stamp(
            text,
            json.loads(folders),
            [tuple(u) for u in json.loads(unusable)],
            links,
            settings,
            Ledger.unpack(ledger),
        )
    return None


def save(lib: Library, stamp: Stamp | None) -> None:
    """Store the stamp of a settled run, or forget the last one."""
    with lib.transaction() as tx:
        # One row, rewritten each time: a table of an older layout goes.
        tx.script(f"DROP TABLE IF EXISTS {STAMP_TABLE}; {STAMP_SCHEMA}")
        if stamp is not None:
            ledger = stamp.ledger.pack() if stamp.ledger is not None else None
            tx.mutate(
                f"INSERT INTO {STAMP_TABLE}"
                " (id, digest, folders, unusable, links, settings, ledger)"
                " VALUES (1, ?, ?, ?, ?, ?, ?)",
                (
                    stamp.digest,
                    json.dumps(stamp.folders),
                    json.dumps(stamp.unusable),
                    stamp.links,
                    stamp.settings,
                    ledger,
                ),
            )


def folders_unchanged(stamp: Stamp) -> bool:
    return all(folder_time(f) == t for f, t in stamp.folders.items())


@dataclass
class IntactLinks:
    """The recorded links, found in place: (view, root, rel, text, target)
    per link; and one line per view folder that could not be read (its
    links are there, but a full run could not list it).
    """

    rows: list[tuple[str, str, str, str, str]]
    unreadable: list[str]


def recorded_links_intact(
    lib: Library, views: Mapping[str, str], count: int
) -> IntactLinks | None:
    """The recorded links, when the record holds ``count`` links, all in the
    configured views and each still in place with its text, below real
    folders (as a full run reads a view: never through a link), the views'
    roots readable; else None.
    """
    try:
        with lib.transaction() as tx:
            rows = tx.query(f"SELECT view, root, rel, link, target FROM {LINKS}")
    except sqlite3.OperationalError:
        return None
    if len(rows) != count:
        return None
    readlink = os.readlink
    sep = os.sep
    # Paths joined by hand, not by os.path: 100,000 links on a re-run.
    prefixes = {(v, root): root.rstrip(sep) + sep for v, root in views.items()}
    folders: set[str] = set()
    for view, root, rel, text, _ in rows:
        prefix = prefixes.get((view, root))
        if prefix is None:
            return None
        path = prefix + rel
        try:
            if readlink(path) != text:
                return None
        except OSError:
            return None
        folders.add(path[: path.rfind(sep)])
    real = _real_folders(folders, views)
    if real is None:
        return None
    roots = [root for root in views.values() if os.path.isdir(root)]
    if any(_unreadable(root) for root in roots):
        return None  # a full run refuses the view with one line
    unreadable = [line for line in map(_unreadable, sorted(real)) if line]
    return IntactLinks([tuple(row) for row in rows], unreadable)


def _real_folders(folders: set[str], views: Mapping[str, str]) -> set[str] | None:
    """Every folder between a view's root and its links, when each is a
    real folder, not a link someone put in place of one; else None.
    """
    roots = set(views.values())
    seen: set[str] = set()
    for folder in folders:
        while folder not in seen and folder not in roots:
            seen.add(folder)
            try:
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    return None
            except OSError:
                return None
            parent = os.path.dirname(folder)
            if parent == folder:
                return None  # above every root: not a view's folder
            folder = parent
    return seen


def _unreadable(folder: str) -> str:
    """One line when ``folder`` cannot be listed (as a full run lists it),
    else "". Opening it is enough; nothing is read.
    """
    try:
        with os.scandir(folder):
            return ""
    except OSError as exc:
        return f"cannot read {folder}: {exc.strerror or exc}"


class Changes:
    """Which items changed since the ledger of ``saved``: ``changed`` are
    present and to be read again (their row hashes differently, they are new,
    or their folder's time changed), ``removed`` are no longer there, and
    ``gone`` holds both. ``position`` finds an item in the ledger.
    """

    def __init__(self, ledger: Ledger, saved: Stamp, rows: ItemRows) -> None:
        self.position = {item: p for p, item in enumerate(ledger.ids)}
        position, old = self.position, ledger.hashes
        changed = {
            item
            for item, digest in zip(rows.ids, rows.hashes(), strict=True)
            if (p := position.get(item)) is None or old[p] != digest
        }
        moved = {f for f, t in saved.folders.items() if folder_time(f) != t}
        if moved:
            indexes = {n for n, f in enumerate(ledger.folders) if f in moved}
            present = set(rows.ids)
            changed.update(
                item
                for item, folder in zip(ledger.ids, ledger.folder, strict=True)
                if folder in indexes and item in present
            )
        self.changed = changed
        self.removed = set(position) - set(rows.ids)
        self.gone = changed | self.removed
