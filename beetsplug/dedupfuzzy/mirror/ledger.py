"""What the last settled run was made from, item by item: the ledger.

Kept with the stamp (``mirror.stamp``) so that a run after a change (albums
removed, an item retagged, a file gone) can tell which items changed and
plan only the albums they reach (``mirror.incremental``). For each item: its
id, a hash of its row as the stamp digests it, its entry, its folder, its
recording and whether its file was usable; for each entry, the entry its
album was named after; and why each unusable item was not linked.

Packed as a few arrays and one JSON text: 100,000 items make about 3 MB,
read and written in milliseconds.
"""

from __future__ import annotations

import json
import struct
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .albums import Album, Track

NO_RECORDING = -1
# The arrays, in the order they are packed, and their type codes.
_ARRAYS = (
    ("ids", "q"),
    ("hashes", "q"),
    ("entry", "i"),
    ("folder", "i"),
    ("recording", "q"),
    ("usable", "b"),
)
_HEADER = struct.Struct("<II")


@dataclass
class Ledger:
    """Per item (``ids`` in any order, the other arrays aligned with it): row
    hash, entry and folder (indexes into ``entries`` and ``folders``),
    recording (:data:`NO_RECORDING` for none), usable (1 or 0). ``album``
    gives, per entry, the index of the entry naming its album; ``unusable``
    the (path, reason) of each item not linked.
    """

    ids: array
    hashes: array
    entry: array
    folder: array
    recording: array
    usable: array
    entries: list[str]
    folders: list[str]
    album: list[int]
    unusable: dict[int, tuple[str, str]]

    def pack(self) -> bytes:
        text = json.dumps(
            {
                "entries": self.entries,
                "folders": self.folders,
                "album": self.album,
                "unusable": [[i, p, r] for i, (p, r) in self.unusable.items()],
            }
        ).encode()
        parts = [_HEADER.pack(len(self.ids), len(text)), text]
        parts += [getattr(self, name).tobytes() for name, _ in _ARRAYS]
        return b"".join(parts)

    @classmethod
    def unpack(cls, blob: bytes | None) -> Ledger | None:
        """The ledger packed in ``blob``; None when it is not one."""
        if not blob or len(blob) < _HEADER.size:
            return None
        try:
            count, length = _HEADER.unpack_from(blob)
            at = _HEADER.size
            meta = json.loads(blob[at : at + length])
            at += length
            arrays = {}
            for name, code in _ARRAYS:
                values = array(code)
                size = values.itemsize * count
                values.frombytes(blob[at : at + size])
                at += size
                arrays[name] = values
            if at != len(blob):
                return None
            return cls(
                **arrays,
                entries=meta["entries"],
                folders=meta["folders"],
                album=meta["album"],
                unusable={i: (p, r) for i, p, r in meta["unusable"]},
            )
        except (ValueError, KeyError, TypeError, struct.error):
            return None


def make_ledger(
    ids: array,
    hashes: array,
    tracks: Iterable[Track],
    usable: Iterable[Track],
    unusable: Mapping[int, tuple[str, str]],
    albums: Iterable[Album],
) -> Ledger | None:
    """The ledger of a run: ``ids`` and ``hashes`` as the stamp read them,
    every item's track, the usable ones, and the albums the run planned.
    None when the tracks are not the items the hashes describe (the library
    changed while the run read it) or a recording id does not fit.
    """
    by_id = {track.id: track for track in tracks}
    if len(by_id) != len(ids) or any(i not in by_id for i in ids):
        return None
    shown = {track.id for track in usable}
    entry_index: dict[str, int] = {}
    folder_index: dict[str, int] = {}
    entry, folder = array("i"), array("i")
    recording, flags = array("q"), array("b")
    for item in ids:
        track = by_id[item]
        entry.append(entry_index.setdefault(track.entry, len(entry_index)))
        folder.append(folder_index.setdefault(track.folder, len(folder_index)))
        number = stored_recording(track.recording)
        if number is None:
            return None
        recording.append(number)
        flags.append(1 if item in shown else 0)
    album = join_albums(list(range(len(entry_index))), entry_index, albums)
    return Ledger(
        ids,
        hashes,
        entry,
        folder,
        recording,
        flags,
        list(entry_index),
        list(folder_index),
        album,
        dict(unusable),
    )


def stored_recording(recording: int | None) -> int | None:
    """A recording as the ledger's array stores it (`NO_RECORDING` for none);
    None when it does not fit (the ledger is then not kept)."""
    if recording is None:
        return NO_RECORDING
    return recording if 0 <= recording < 2**63 else None


def join_albums(
    album: list[int], entry_index: Mapping[str, int], albums: Iterable[Album]
) -> list[int]:
    """`album` (each entry's album, by entry index) with the entries of each
    planned album pointing at the album's own entry."""
    for found in albums:
        named = entry_index[found.rel]
        for name in found.names:
            album[entry_index[name]] = named
    return album
