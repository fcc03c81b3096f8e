"""Library rows as the matcher's tracks: what matching needs of an item."""

from __future__ import annotations

from ..store import fields
from . import blockindex
from .matcher import Track


def track_of(row: fields.Row, sketch: blockindex.Sketch | None = None) -> Track:
    """What matching needs of a row; the sketch given, decoded or stored."""
    if sketch is None:
        sketch = (
            row.sketch
            if row.sketch is not None
            else blockindex.decode_sketch(row.blocks)
        )
    return Track(
        id=row.id,
        path=row.path,
        length=row.length,
        format=row.format,
        bitrate=row.bitrate,
        bitdepth=row.bitdepth,
        samplerate=row.samplerate,
        sketch=sketch,
    )


class Tracks(dict):
    """Track records built on first use from rows (most are never needed)."""

    def __init__(self, rows: dict[int, fields.Row]) -> None:
        super().__init__()
        self.rows = rows

    def __missing__(self, item_id: int) -> Track:
        track = track_of(self.rows[item_id], blockindex.EMPTY)
        track.sketch = None  # an indexed track: its sketch is not empty
        self[item_id] = track
        return track
