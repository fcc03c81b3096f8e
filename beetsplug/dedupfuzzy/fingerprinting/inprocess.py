"""One decode for both jobs: a lossless file's fingerprint and its check.

fpcalc decodes a file's first two minutes for Chromaprint; the lossless
check reads four short excerpts of it. For a file libsndfile reads (FLAC,
WAV, AIFF) both come from one read in this process: the first two minutes
are streamed to libchromaprint through pyacoustid's public
`acoustid.fingerprint` (the same algorithm over the same span as fpcalc; the
two fingerprints differ in about one bit in 10,000, far below what matching
notices), and the excerpts that fall inside them are cut on the way. That
saves fpcalc's process and the excerpts' second decode. Other formats (ALAC,
WavPack, APE) and files without `soundfile` are streamed the same way from
one ffmpeg run, which also decodes the excerpts after the first two minutes.

Anything this path cannot do (no libchromaprint, a file ffmpeg cannot
decode, a fingerprint Chromaprint cannot make) returns None, and the caller
runs fpcalc and `analyse_file` as before, so fpcalc still names what is
wrong with a bad file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..analysis import UNKNOWN
from ..analysis.verdict import Analysis
from .fpcalc import MAX_SECONDS, FpcalcResult

if TYPE_CHECKING:
    from ..analysis.readers import ExcerptReader

log = logging.getLogger("beets")

_warned = threading.Event()
NO_CHROMAPRINT = (
    "dedupfuzzy: libchromaprint is not installed (apt-get install "
    "libchromaprint1): lossless files are fingerprinted by fpcalc, one more "
    "decode each"
)


def chromaprint_available() -> bool:
    """Whether pyacoustid can fingerprint in this process; says once per
    run when it cannot."""
    # loaded here, by the workers: a warm run has no need of it
    import acoustid

    if getattr(acoustid, "have_chromaprint", False):
        return True
    if not _warned.is_set():
        _warned.set()
        log.warning(NO_CHROMAPRINT)
    return False


def fingerprint_and_analyse(
    path: bytes, length: float, samplerate: int = 0
) -> tuple[FpcalcResult, Analysis] | None:
    """The file's fingerprint and verdict from one read, or None when this
    path cannot give the fingerprint."""
    from ..analysis.decode import DecodeError
    from ..analysis.readers import READ_ERRORS, open_ffmpeg_reader, open_reader
    from .excerpts import RATE as CHROMAPRINT_RATE

    if not chromaprint_available():
        return None
    try:
        with open_reader(path, length) as reader:
            if reader is not None:
                return _from_reader(path, length, reader)
    except READ_ERRORS:
        return None
    if not samplerate:
        return None
    # what libsndfile does not read (ALAC, WavPack, APE...): one ffmpeg run
    # for both, its start-up paid once instead of once for fpcalc and once
    # for the excerpts
    try:
        with open_ffmpeg_reader(
            path, length, samplerate, MAX_SECONDS, CHROMAPRINT_RATE
        ) as reader:
            return _from_reader(path, length, reader)
    except DecodeError:
        return None  # fpcalc and analyse_file say what is wrong


def _from_reader(
    path: bytes, length: float, reader: ExcerptReader
) -> tuple[FpcalcResult, Analysis] | None:
    """The fingerprint of the reader's head, then the verdict on its
    excerpts; None when Chromaprint gives no fingerprint (fpcalc is then
    asked). DecodeError when the reader could not read the file."""
    from ..analysis import analyse_excerpts
    from ..analysis.decode import DecodeError

    fingerprint = _fingerprint(
        reader.head_rate, reader.head_channels, reader.head_blocks(MAX_SECONDS)
    )
    if fingerprint is None:
        return None
    reader.finish()
    result = FpcalcResult(path, duration=reader.duration, fingerprint=fingerprint)
    try:
        excerpts = reader.excerpts()
    except DecodeError as exc:
        return result, Analysis(UNKNOWN, error=str(exc))
    return result, analyse_excerpts(path, length, excerpts)


def _fingerprint(samplerate: int, channels: int, blocks: Iterator) -> str | None:
    """libchromaprint's fingerprint of the first `MAX_SECONDS` of `blocks`
    (16-bit PCM), as fpcalc would give it, or None (fpcalc is then asked)."""
    import acoustid

    try:
        compressed = acoustid.fingerprint(samplerate, channels, blocks, MAX_SECONDS)
    except acoustid.FingerprintGenerationError:
        return None
    # too short gives nothing: fpcalc says so in its words
    return _text(compressed) or None


def _text(compressed: bytes | str) -> str:
    if isinstance(compressed, bytes):
        return compressed.decode("ascii", "replace")
    return compressed
