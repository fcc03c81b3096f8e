"""The plugin's fields on beets' items, and the row a run reads of each item.

The fingerprint lives in beets' own `acoustid_fingerprint` column (shared
with the chroma plugin); the plugin's other fields are stored exactly as
beets stores flexible attributes, so `beet ls -f '$dedupfuzzy_recording'`
and `beet modify` see them as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from beets.library import Item

FINGERPRINT = "acoustid_fingerprint"
FP_MTIME = "dedupfuzzy_fp_mtime"
BLOCKS = "dedupfuzzy_blocks"
# The recording an item is a copy of (shared by its copies), and the token of
# the settings it was matched under ("" or absent: match it again).
RECORDING = "dedupfuzzy_recording"
MATCHED = "dedupfuzzy_matched"
# The file's audio identity when it was fingerprinted (fingerprinting/freshness).
AUDIO_ID = "dedupfuzzy_audio"
# The lossless check (analysis/): verdict, cutoff in Hz, likely source.
LOSSLESS = "dedupfuzzy_lossless"
CUTOFF = "dedupfuzzy_cutoff"
SOURCE = "dedupfuzzy_source"
FLEX_FIELDS = (FP_MTIME, MATCHED, RECORDING, AUDIO_ID, LOSSLESS, CUTOFF, SOURCE)
# Our copy of the fingerprint, never read in bulk: `acoustid_fingerprint` is
# also a tag, and `beet update` empties it for files that do not carry it;
# `restore_cleared_fingerprints` puts the copy back.
FP_COPY = "dedupfuzzy_fingerprint"

PATH_TYPE = Item._fields["path"]


@dataclass(slots=True)
class Row:
    """One item as the plugin sees it."""

    id: int
    path: bytes
    length: float
    format: str
    bitrate: int
    bitdepth: int
    samplerate: int
    mtime: float
    fingerprint: str = ""
    fp_mtime: float | None = None
    blocks: str = ""
    added: float = 0.0
    lossless: str = ""  # genuine, fake, unknown; "" when not analysed
    cutoff: int = 0
    likely_source: str = ""  # "lossy-128", "aac-320", "upsampled-44100"
    # The decoded `blocks` (a blockindex.Sketch), once something decoded it.
    sketch: object = None
    # Whether the item has a fingerprint (also when it was not read).
    has_fingerprint: bool = False
    matched: str = ""
    recording: int | None = None
    audio_id: str = ""


def as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
