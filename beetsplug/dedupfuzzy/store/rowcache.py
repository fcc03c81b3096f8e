"""What a run needs of every item, kept compactly in the plugin's own table.

beets' `items` table starts each row with the fingerprint (4 KB), so a
track's path, length or mtime lie on an overflow page, and reading them for
every item costs two or three pages per item: most of a warm run over a
large library. So the `Row` of each item (no fingerprint, no sketch) is also
kept in `dedupfuzzy_rows`. It is a cache, never the truth:

- the plugin's own writes (`catalog.store_flex`, `delete_flex`) drop the
  entry, except those of a run that has just checked the rows (`checked`
  below): they update the entry's fields in the same transaction, so a
  first run, which writes every item, does not read them all back; a run
  caches again what was dropped (`refill_cache`);
- an entry is used only while the file at its path still has the mtime
  recorded with its fingerprint (`checked`); otherwise (beets moved the
  file, the audio changed, `beet update` read new properties) the item is
  read again from beets' tables. A run stats every file anyway.
- items added or removed are seen by their ids (reading ids touches no
  overflow page).

Fields beets changes without touching the file (`beet modify format=...`)
are not seen until the file changes. Fingerprints emptied by `beet update`
are put back as the items are read again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import fields

from beets.library import Library

from ..fingerprinting.freshness import MTIME_SLACK, file_mtime, file_mtimes
from . import rowsnapshot
from .catalog import id_chunks, read_rows, restore_cleared_fingerprints
from .fields import PATH_TYPE, Row
from .rowsync import CACHE, uncache

_CACHED = (
    "id",
    "stored_path",  # as beets stores it: relative to the music folder
    "length",
    "format",
    "bitrate",
    "bitdepth",
    "samplerate",
    "mtime",
    "added",
    "fp_mtime",
    "has_fingerprint",
    "matched",
    "recording",
    "audio_id",
    "lossless",
    "cutoff",
    "source",
)


# The order of Row's fields `load_all_rows` fills by position.
_ROW_ORDER = (
    "id", "path", "length", "format", "bitrate", "bitdepth", "samplerate", "mtime",
    "fingerprint", "fp_mtime", "blocks", "added", "lossless", "cutoff",
    "likely_source", "sketch", "has_fingerprint", "matched", "recording", "audio_id",
)  # fmt: skip
if tuple(f.name for f in fields(Row)) != _ROW_ORDER:
    raise ImportError("rowcache: Row's fields changed; update load_all_rows")


def _ensure_cache(lib: Library) -> None:
    with lib.transaction() as tx:
        found = tx.query(f"PRAGMA table_info({CACHE})")
        if tuple(r[1] for r in found) == _CACHED:
            return
        # A cache of another layout (or none): start afresh.
        tx.script(
            f"DROP TABLE IF EXISTS {CACHE};"
            f"CREATE TABLE {CACHE} (id INTEGER PRIMARY KEY, "
            + ", ".join(_CACHED[1:])
            + ");"
        )
        rowsnapshot.clear(tx)


def load_all_rows(lib: Library) -> tuple[list[Row], set[int]]:
    """Every item's row (no fingerprint, no sketch), in id order: from the
    cache, and from beets' tables for the items not in it (which are then
    cached); and the ids of the latter."""
    _ensure_cache(lib)
    expand = _path_expander()
    layout = _packed_layout()
    with lib.transaction() as tx:
        # Sorted here: ORDER BY makes SQLite walk the table, not an index.
        ids = [r[0] for r in tx.query("SELECT id FROM items")]
        ids.sort()
        packed = rowsnapshot.read(tx, layout, len(_ROW_ORDER))
        if packed is None:
            rows = _rows_of(tx.query(f"SELECT {_COLUMNS} FROM {CACHE}"), expand)
        else:
            # Row's fields in order: one positional call per row.
            rows = {t[0]: Row(*t) for t in packed[0] if t[0] not in packed[1]}
            rows.update(_rows_of(_cached(tx, sorted(packed[1])), expand))
    present = set(ids)
    gone = [i for i in rows if i not in present]
    gone += _reused(lib, rows, ids)
    for i in gone:
        rows.pop(i, None)
    missing = [i for i in ids if i not in rows]
    if gone:
        uncache(lib, gone)
    rows.update(_reread(lib, missing))
    return [rows[i] for i in ids if i in rows], set(missing)


_COLUMNS = ", ".join(_CACHED)


def _cached(tx, ids: list[int]) -> list:
    """The cache table's entries of some ids."""
    found: list = []
    for chunk, marks in id_chunks(ids):
        query = f"SELECT {_COLUMNS} FROM {CACHE} WHERE id IN ({marks})"
        found += tx.query(query, chunk)
    return found


def _rows_of(cached: Iterable, expand: Callable[[bytes], bytes]) -> dict[int, Row]:
    # Positional: a keyword call per row costs twice as much (`_ROW_ORDER`).
    return {t[0]: Row(*t) for t in _in_row_order(cached, expand)}


def _in_row_order(cached: Iterable, expand: Callable[[bytes], bytes]) -> list[tuple]:
    """Cache table entries as tuples of Row's fields, in order (`_ROW_ORDER`)."""
    return [
        (c[0], expand(c[1]), c[2], c[3], c[4], c[5], c[6], c[7], "", c[9], "",
         c[8], c[14], c[15], c[16], None, bool(c[10]), c[11], c[12], c[13])
        for c in cached
    ]  # fmt: skip


def _packed_layout() -> tuple[str, ...]:
    """The packed copy's layout: Row's fields, and the music folder its
    paths were expanded with (another folder, another layout)."""
    placeholder = b"_"
    folder = PATH_TYPE.from_sql(placeholder)
    return (*_ROW_ORDER, os.fsdecode(folder))


def repack(lib: Library) -> None:
    """Pack the whole cache again, when many of its rows changed since it
    was last packed (`rowsnapshot`)."""
    with lib.transaction() as tx:
        total = tx.query(f"SELECT count(*) FROM {CACHE}")[0][0]
        if not rowsnapshot.stale(tx, total):
            return
        cached = tx.query(f"SELECT {_COLUMNS} FROM {CACHE}")
        rows = _in_row_order(cached, _path_expander())
        rowsnapshot.repack(tx, _packed_layout(), rows)


def _reused(lib: Library, rows: dict[int, Row], ids: list[int]) -> list[int]:
    """Ids whose cached row belongs to a removed item whose id a new item took.

    SQLite gives a new item the highest id plus one, so an id comes back
    only after every id above it was removed: a reused id lies above every
    item that stayed. Walking down from the highest cached id, the first
    item whose stored path and `added` time still agree with its cached row
    stayed, and no id below it can have been reused (usually one row read).
    """
    reused: list[int] = []
    with lib.transaction() as tx:
        for item_id in reversed(ids):  # the items' ids, ascending
            if item_id not in rows:
                continue
            found = tx.query("SELECT path, added FROM items WHERE id = ?", (item_id,))
            row = rows[item_id]
            if found and (
                PATH_TYPE.from_sql(found[0][0]) == row.path
                and abs(float(found[0][1] or 0.0) - row.added) < 1e-3
            ):
                break
            reused.append(item_id)
    return reused


def checked(
    lib: Library, rows: list[Row], fresh_ids: Iterable[int] = ()
) -> tuple[list[Row], dict[int, float | None]]:
    """The rows with their files' mtimes; a cached row whose file is gone or
    changed since it was fingerprinted is read again from beets' tables."""
    found = file_mtimes(r.path for r in rows)
    mtimes = dict(zip((r.id for r in rows), found, strict=True))
    stale = [
        row.id
        for row, mtime in zip(rows, found, strict=True)
        if mtime is None
        or row.fp_mtime is None
        or abs(row.fp_mtime - mtime) >= MTIME_SLACK
    ]
    skip = set(fresh_ids)
    stale = [i for i in stale if i not in skip]
    if not stale:
        return rows, mtimes
    uncache(lib, stale)
    again = _reread(lib, stale)
    for i, row in again.items():
        mtimes[i] = file_mtime(row.path)
    kept = [again.get(r.id, r) for r in rows]
    return [r for r in kept if r.id in again or r.id not in stale], mtimes


def _reread(lib: Library, ids: list[int]) -> dict[int, Row]:
    """Rows read from beets' tables, and cached: in one transaction, so no
    write of another thread (the import hook's, beside the library index
    loading in its thread) falls between reading a row and caching it."""
    if not ids:
        return {}
    with lib.transaction():
        restore_cleared_fingerprints(lib, ids)
        fresh = read_rows(lib, ids, False, False)
        _remember(lib, fresh.values())
    return fresh


def refill_cache(lib: Library) -> None:
    """Cache the rows of items not cached (those changed during a run)."""
    _ensure_cache(lib)
    with lib.transaction() as tx:
        missing = [
            r[0]
            for r in tx.query(
                f"SELECT id FROM items WHERE id NOT IN (SELECT id FROM {CACHE})"
            )
        ]
    _reread(lib, missing)
    repack(lib)


def _path_expander() -> Callable[[bytes], bytes]:
    """beets' conversion of a stored path, without its cost per path.

    beets stores paths inside the music folder relative to it; expanding one
    (`PathType.from_sql`) costs several microseconds, most of a cached row's
    reading. The stored relative paths are normalised already, so the music
    folder, expanded once, is put in front of them.
    """
    placeholder = b"_"
    expanded = PATH_TYPE.from_sql(placeholder)
    if not os.path.isabs(expanded) or not expanded.endswith(placeholder):
        return PATH_TYPE.from_sql
    prefix = expanded[: -len(placeholder)]
    sep = os.fsencode(os.sep)

    if sep == b"/":

        def expand(stored: bytes) -> bytes:
            return stored if stored[:1] == b"/" else prefix + stored

        return expand

    def expand_here(stored: bytes) -> bytes:
        if os.path.isabs(stored):
            return stored
        return prefix + stored.replace(b"/", sep)

    return expand_here


def _path_compressor() -> Callable[[bytes], bytes]:
    """beets' conversion of a path to its stored form (`PathType.to_sql`),
    without its cost per path: a normalised path inside the music folder
    loses the folder's prefix; anything else takes beets' way."""
    placeholder = b"_"
    expanded = PATH_TYPE.from_sql(placeholder)
    if os.sep != "/" or not expanded.endswith(b"/" + placeholder):
        return PATH_TYPE.to_sql
    prefix = expanded[: -len(placeholder)]
    odd = (b"//", b"/./", b"/../")

    def compress(path: bytes) -> bytes:
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            probe = b"/" + rest + b"/"
            if rest and not any(o in probe for o in odd):
                return rest
        return PATH_TYPE.to_sql(path)

    return compress


def _remember(lib: Library, rows: Iterable[Row]) -> None:
    stored = _path_compressor()
    values = [
        (
            r.id,
            stored(r.path),
            r.length,
            r.format,
            r.bitrate,
            r.bitdepth,
            r.samplerate,
            r.mtime,
            r.added,
            r.fp_mtime,
            int(r.has_fingerprint),
            r.matched,
            r.recording,
            r.audio_id,
            r.lossless,
            r.cutoff,
            r.likely_source,
        )
        for r in rows
    ]
    with lib.transaction() as tx:
        tx.mutate_many(
            f"INSERT OR REPLACE INTO {CACHE} VALUES ({', '.join('?' * len(_CACHED))})",
            values,
        )
        rowsnapshot.touch(tx, (v[0] for v in values))
