"""Putting a removed item (and its album) back into the library, ids and all.

Used by undo and by recovery. A path the library already holds never gets a
second item: the caller asks `holder` first and adopts that item instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beets import dbcore
from beets.library import Album, Item

from .schema import JournalEntry, values

if TYPE_CHECKING:
    from beets.dbcore.db import Transaction
    from beets.library import Library

_PATH_TYPE = Item._fields["path"]


def holder(lib: Library, path: bytes) -> int | None:
    """The id of the library item at exactly `path`, if there is one.

    Call inside `lib.music_dir_context()`: beets stores paths inside the
    music folder relative to it.
    """
    with lib.transaction() as tx:
        rows = tx.query(
            "SELECT id FROM items WHERE path = ? ORDER BY id LIMIT 1",
            (_PATH_TYPE.to_sql(path),),
        )
    return rows[0][0] if rows else None


def restore(
    lib: Library, tx: Transaction, entry: JournalEntry, path: bytes
) -> tuple[int, list[str]]:
    """Re-create the entry's item (and album) at `path`; return its id and notes."""
    data = entry.data
    notes: list[str] = []
    fields = values(Item, data["item"])
    fields["path"] = path
    album_id, album_note = _resolve_album(lib, tx, data)
    fields["album_id"] = album_id
    if album_note:
        notes.append(album_note)
    item_id = _insert_model(lib, tx, Item, fields, entry.item_id)
    if item_id != entry.item_id:
        notes.append(f"item id {entry.item_id} is taken, now id {item_id}")
    return item_id, notes


def _resolve_album(
    lib: Library, tx: Transaction, data: dict[str, Any]
) -> tuple[int | None, str | None]:
    """Find or re-create the item's album; return its id and a note."""
    ref = data.get("album_ref")
    if ref is None:
        return None, None
    album = lib.get_album(ref["id"])
    if album is not None and album.added == ref["added"]:
        return album.id, None
    # SQLite can reuse a deleted album's id: look for ours elsewhere.
    if ref["added"]:
        query = dbcore.MatchQuery("added", ref["added"])
        for other in lib.albums(query):
            return other.id, None
    if data.get("album") is None:
        return None, f"album {ref['id']} no longer exists, item is a singleton"
    fields = values(Album, data["album"])
    album_id = _insert_model(lib, tx, Album, fields, ref["id"])
    if album_id != ref["id"]:
        return album_id, f"album id {ref['id']} is taken, now id {album_id}"
    return album_id, None


def _insert_model(
    lib: Library,
    tx: Transaction,
    model_cls: type[Item] | type[Album],
    fields: dict[str, Any],
    wanted_id: int,
) -> int:
    """Insert a row with `wanted_id` (or a new id if taken), then store."""
    table = model_cls._table
    if tx.query(f"SELECT 1 FROM {table} WHERE id = ?", (wanted_id,)):
        new_id = tx.mutate(f"INSERT INTO {table} DEFAULT VALUES")
    else:
        new_id = tx.mutate(f"INSERT INTO {table} (id) VALUES (?)", (wanted_id,))
    assert new_id is not None
    model = model_cls(lib)
    model.update({k: v for k, v in fields.items() if k != "id"})
    model.id = new_id
    if isinstance(model, Album):
        model.store(inherit=False)
    else:
        model.store()
    return new_id
