"""Is a stored fingerprint still the file's? Decided by its audio, not its tags.

A fingerprint describes the audio. Tag edits (`beet write`, `beet modify`,
imports with `write: yes`, external taggers followed by `beet update`) change
a file's mtime and often its size and layout, never its audio; so a changed
mtime alone does not make a fingerprint stale. Each fingerprinted file also
gets an *audio identity*, a short string read from the file far more cheaply
than a decode, that tag edits leave alone and audio edits change:

- FLAC: the MD5 of the decoded samples its encoder put in STREAMINFO;
- otherwise a hash of samples of the audio payload, the tag blocks left
  out: MP3/AAC/other raw streams skip ID3v2 at the start and ID3v1/APEv2 at
  the end; MP4 hashes its `mdat` atom; Ogg (Vorbis, Opus, FLAC) hashes the
  packet data of its audio pages (not the page numbers and checksums a tag
  edit may renumber); WAV/AIFF their sample chunk.

Sampling (a few blocks spread over the payload, and its exact length) keeps
the check to a few small reads per file. Any re-encode, trim or gain change
rewrites every frame and is seen; a same-length edit of a few uncompressed
(WAV/AIFF) samples between two sampled blocks would not be.

A check costs one `stat` while the mtime is the one recorded with the
fingerprint, and one audio identity when it is not. Unknown layouts get no
identity, and then a changed mtime means a new decode, as before.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from beets import util

from ..stages import Step, nothing
from ..store.fields import FP_COPY, FP_MTIME, Row

MTIME_SLACK = 1e-3
SAMPLES = 8
SAMPLE_SIZE = 16 * 1024
# Fewer files than this get their identities read here (forking workers
# costs more), and each worker job reads this many.
PARALLEL_IDENTITIES = 2000
IDENTITY_CHUNK = 1000


def file_mtime(path: bytes) -> float | None:
    try:
        return os.path.getmtime(util.syspath(path))
    except OSError:
        return None


def file_mtimes(paths: Iterable[bytes]) -> list[float | None]:
    """`file_mtime` of many files: one `stat` each in a tight loop (a warm
    run stats every file of the library)."""
    stat = os.stat
    # beets' `syspath` changes nothing outside Windows.
    convert = util.syspath if os.path.__name__ == "ntpath" else None
    found: list[float | None] = []
    append = found.append
    for path in paths:
        try:
            append(stat(convert(path) if convert else path).st_mtime)
        except (OSError, ValueError):
            append(None)
    return found


@dataclass
class Check:
    """The outcome of a freshness check.

    `record` is set when the row's `fp_mtime` or `audio_id` was just
    established (by its audio, or for a fingerprint another plugin stored):
    writing them back makes the next check a single `stat`.
    """

    fresh: bool
    record: bool = False


def unchanged(row: Row, mtime: float | None) -> bool:
    """The common case, decided on the row alone: the file keeps the mtime
    recorded with its fingerprint, whose audio identity is known."""
    return (
        mtime is not None
        and row.fp_mtime is not None
        and bool(row.audio_id)
        and (row.has_fingerprint or bool(row.fingerprint))
        and abs(row.fp_mtime - mtime) < MTIME_SLACK
    )


def may_identify(row: Row, mtime: float | None) -> bool:
    """Whether `check` may read the file's audio identity (a superset)."""
    return (
        mtime is not None
        and not unchanged(row, mtime)
        and (bool(row.fingerprint) or row.has_fingerprint)
    )


def check(
    row: Row,
    mtime: float | None,
    identity: Callable[[bytes], str] = lambda path: audio_identity(path),
) -> Check:
    """Whether the row's stored fingerprint still describes its file.

    Updates `row.fp_mtime` and `row.audio_id` when it finds out more.
    `identity`: the file's audio identity (read already by `audio_identities`
    for the files `may_identify` names, when there are many).
    """
    if unchanged(row, mtime):
        return Check(True)
    if not (row.fingerprint or row.has_fingerprint) or mtime is None:
        return Check(False)
    if row.fp_mtime is not None and abs(row.fp_mtime - mtime) < MTIME_SLACK:
        # Fingerprinted before audio identities existed: note it once.
        row.audio_id = identity(row.path)
        return Check(True, bool(row.audio_id))
    if row.fp_mtime is None and _untouched_since_beets_read(row, mtime):
        # A fingerprint another plugin (chroma) stored.
        row.fp_mtime = mtime
        row.audio_id = identity(row.path)
        return Check(True, True)
    if row.audio_id and identity(row.path) == row.audio_id:
        row.fp_mtime = mtime  # only the tags changed
        return Check(True, True)
    return Check(False)


def _untouched_since_beets_read(row: Row, mtime: float) -> bool:
    """For a fingerprint without our mtime: beets' `mtime` field says when it
    last read or wrote the file, in whole seconds; beets zeroes it when a tag
    field changes, and then a file untouched since it was added is still the
    file that was fingerprinted."""
    if row.mtime:
        return int(mtime) == int(row.mtime)
    return bool(row.added) and mtime <= row.added


class BeetsWrites:
    """beets' own tag writes keep a fresh fingerprint fresh, without a read.

    At beets' `write` event the file is still the one last seen: if its
    fingerprint was fresh then, the new mtime after `after_write` is noted
    on the item (stored by beets with the tags it wrote, as `beet write`,
    `modify` and imports do), so the next check is a single `stat`.
    """

    def __init__(self) -> None:
        self._fresh: set[tuple[int, bytes]] = set()
        self._lock = threading.Lock()

    def before(self, item, path: bytes, **_) -> None:
        recorded = item.get(FP_MTIME)
        if recorded is None or path != item.path or not item.get(FP_COPY):
            return
        mtime = file_mtime(path)
        if mtime is not None and abs(float(recorded) - mtime) < MTIME_SLACK:
            with self._lock:
                self._fresh.add((id(item), path))

    def after(self, item, path: bytes, **_) -> None:
        with self._lock:
            if (id(item), path) not in self._fresh:
                return
            self._fresh.discard((id(item), path))
        mtime = file_mtime(path)
        if mtime is not None:
            item[FP_MTIME] = mtime


# Audio identities.


def audio_identities(
    paths: Sequence[bytes],
    workers: int,
    meanwhile: Callable[[], None] = lambda: None,
    step: Step = nothing,
) -> dict[bytes, str]:
    """`audio_identity` of many files, by `workers` processes when they are
    many (a first run adopting another plugin's fingerprints reads one per
    file of the library); `meanwhile` runs here while they read, `step` is
    told how many files each chunk read."""
    if workers < 2 or len(paths) < PARALLEL_IDENTITIES:
        meanwhile()
        known = {path: audio_identity(path) for path in paths}
        step(len(paths))
        return known
    chunks = [
        paths[start : start + IDENTITY_CHUNK]
        for start in range(0, len(paths), IDENTITY_CHUNK)
    ]
    with ProcessPoolExecutor(workers) as pool:
        jobs = [pool.submit(_identities, chunk) for chunk in chunks]
        meanwhile()
        found: list[str] = []
        for job in jobs:
            read = job.result()
            found += read
            step(len(read))
    return dict(zip(paths, found, strict=True))


def _identities(paths: Sequence[bytes]) -> list[str]:
    return [audio_identity(path) for path in paths]


def audio_identity(path: bytes) -> str:
    """A short string that changes with the file's audio, not with its tags;
    empty when the file cannot be read or its layout is unknown."""
    try:
        with open(util.syspath(path), "rb") as f:
            return _identity(f)
    except (OSError, ValueError, struct.error):
        return ""


def _identity(f: BinaryIO) -> str:
    size = os.fstat(f.fileno()).st_size
    start = _skip_id3v2(f)
    f.seek(start)
    head = f.read(12)
    if head[:4] == b"fLaC":
        return _flac(f, start + 4, size)
    if head[:4] == b"OggS":
        return _ogg(f, start, size)
    if head[4:8] == b"ftyp":
        return _chunked(f, start, size, b"mdat", big_endian=True, mp4=True)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _chunked(f, start + 12, size, b"data", big_endian=False)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _chunked(f, start + 12, size, b"SSND", big_endian=True)
    return _sampled(f, "raw", start, _end_of_audio(f, size))


def _skip_id3v2(f: BinaryIO, offset: int = 0) -> int:
    """The offset after any ID3v2 tags at `offset`."""
    while True:
        f.seek(offset)
        header = f.read(10)
        if len(header) < 10 or header[:3] != b"ID3":
            return offset
        size = 0
        for byte in header[6:10]:
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if header[5] & 0x10 else 0
        offset += 10 + size + footer


def _end_of_audio(f: BinaryIO, size: int) -> int:
    """The end of the audio before trailing ID3v1 and APEv2 tags."""
    end = size
    if end >= 128:
        f.seek(end - 128)
        if f.read(3) == b"TAG":
            end -= 128
    if end >= 32:
        f.seek(end - 32)
        footer = f.read(32)
        if footer[:8] == b"APETAGEX":
            tag_size, flags = struct.unpack("<I4xI", footer[12:24])
            end -= tag_size + (32 if flags & 0x80000000 else 0)
    return max(end, 0)


def _sampled(f: BinaryIO, kind: str, start: int, end: int) -> str:
    """The length of [start, end) and a hash of blocks spread over it."""
    length = end - start
    if length <= 0:
        return ""
    digest = hashlib.blake2b(digest_size=16)
    step = max(length - SAMPLE_SIZE, 0) / max(SAMPLES - 1, 1)
    for i in range(SAMPLES):
        f.seek(start + int(i * step))
        digest.update(f.read(min(SAMPLE_SIZE, length)))
    return f"{kind}:{length}:{digest.hexdigest()}"


def _flac(f: BinaryIO, offset: int, size: int) -> str:
    f.seek(offset)
    while True:
        header = f.read(4)
        if len(header) < 4:
            return ""
        last, kind = header[0] & 0x80, header[0] & 0x7F
        length = int.from_bytes(header[1:4], "big")
        if kind == 0:  # STREAMINFO
            info = f.read(length)
            md5 = info[18:34]
            if len(md5) == 16 and any(md5):
                return f"flac-md5:{md5.hex()}"
            f.seek(length - len(info), os.SEEK_CUR)
        else:
            f.seek(length, os.SEEK_CUR)
        if last:
            break
    return _sampled(f, "flac", f.tell(), _end_of_audio(f, size))


def _chunked(
    f: BinaryIO,
    offset: int,
    size: int,
    wanted: bytes,
    *,
    big_endian: bool,
    mp4: bool = False,
) -> str:
    """Hash the first `wanted` chunk (RIFF, AIFF) or top-level atom (MP4)."""
    order = ">" if big_endian else "<"
    while offset + 8 <= size:
        f.seek(offset)
        header = f.read(8)
        if mp4:
            length, name = struct.unpack(">I4s", header)
            body = offset + 8
            if length == 1:
                length = struct.unpack(">Q", f.read(8))[0]
                body += 8
            elif length == 0:
                length = size - offset
            end = offset + length
        else:
            name, length = struct.unpack(order + "4sI", header)
            body = offset + 8
            end = body + length + (length & 1)
        if name == wanted:
            return _sampled(f, wanted.decode().strip(), body, min(end, size))
        if end <= offset:
            return ""
        offset = end
    return ""


def _ogg_page(f: BinaryIO, offset: int) -> tuple[int, int, int] | None:
    """(granule position, payload offset, next page offset) of the page at
    `offset`, or None when no page starts there."""
    f.seek(offset)
    header = f.read(27)
    if len(header) < 27 or header[:4] != b"OggS":
        return None
    granule = struct.unpack("<q", header[6:14])[0]
    lacing = f.read(header[26])
    payload = offset + 27 + len(lacing)
    return granule, payload, payload + sum(lacing)


def _ogg(f: BinaryIO, offset: int, size: int) -> str:
    """Hash the packet data of sampled audio pages.

    The header packets (with the tags) end on a page of granule 0; the audio
    pages after them keep their sizes and places relative to the first one
    when tags change, though their sequence numbers and checksums may not.
    """
    page = _ogg_page(f, offset)
    # Header pages have granule 0, or -1 where a long (tag) packet goes on.
    while page is not None and page[0] in (0, -1):
        offset = page[2]
        page = _ogg_page(f, offset)
    if page is None:
        return ""
    audio_start, length = offset, size - offset
    digest = hashlib.blake2b(digest_size=16)
    step = max(length - SAMPLE_SIZE, 0) / max(SAMPLES - 1, 1)
    for i in range(SAMPLES):
        f.seek(audio_start + int(i * step))
        block = f.read(SAMPLE_SIZE)
        at = block.find(b"OggS")
        if at < 0:
            continue
        page = _ogg_page(f, audio_start + int(i * step) + at)
        if page is None:
            continue
        granule, payload, end = page
        f.seek(payload)
        digest.update(struct.pack("<q", granule))
        digest.update(f.read(min(end - payload, SAMPLE_SIZE)))
    return f"ogg:{length}:{digest.hexdigest()}"
