"""One decode for both jobs: a lossless file's fingerprint and its check.

fpcalc decodes a file's first two minutes for Chromaprint; the lossless
check reads four short excerpts of it. For a file libsndfile reads (FLAC,
WAV, AIFF) both come from one read in this process: the first two minutes
are streamed to libchromaprint through pyacoustid's public
`acoustid.fingerprint` (the same algorithm over the same span as fpcalc; the
two fingerprints differ in about one bit in 10,000, far below what matching
notices), and the excerpts that fall inside them are cut on the way. That
saves fpcalc's process and the excerpts' second decode.

Anything this path cannot do (no libchromaprint, no soundfile, a format
libsndfile does not read, a fingerprint Chromaprint cannot make) returns
None, and the caller runs fpcalc and `analyse_file` as before, so fpcalc
still names what is wrong with a bad file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from ..analysis import UNKNOWN
from ..analysis.verdict import Analysis
from .fpcalc import MAX_SECONDS, FpcalcResult

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
    from ..analysis import analyse_excerpts
    from ..analysis.decode import READ_ERRORS, DecodeError, open_reader

    if not chromaprint_available():
        return None
    try:
        with open_reader(path, length) as reader:
            if reader is None:
                return _by_ffmpeg(path, length, samplerate)
            result = _fingerprint(
                path,
                reader.samplerate,
                reader.channels,
                reader.head_blocks(MAX_SECONDS),
                reader.frames / reader.samplerate,
            )
            if result is None:
                return None
            try:
                excerpts = reader.excerpts()
            except DecodeError as exc:
                return result, Analysis(UNKNOWN, error=str(exc))
    except READ_ERRORS:
        return None
    return result, analyse_excerpts(path, length, excerpts)


def _by_ffmpeg(
    path: bytes, length: float, samplerate: int
) -> tuple[FpcalcResult, Analysis] | None:
    """Both from one ffmpeg run, for what libsndfile does not read (ALAC,
    WavPack, APE...): its start-up is most of the cost, paid once instead of
    once for fpcalc and once for the excerpts."""
    from ..analysis import analyse_excerpts
    from ..analysis.decode import DecodeError, ffmpeg_excerpts_and_head

    if not samplerate:
        return None
    try:
        excerpts, pcm = ffmpeg_excerpts_and_head(path, length, samplerate, MAX_SECONDS)
    except DecodeError:
        return None  # fpcalc and analyse_file say what is wrong
    duration = length or len(pcm) / (4 * samplerate)
    result = _fingerprint(path, samplerate, 2, iter([pcm]), duration)
    if result is None:
        return None
    return result, analyse_excerpts(path, length, excerpts)


def _fingerprint(
    path: bytes, samplerate: int, channels: int, blocks: Iterator, duration: float
) -> FpcalcResult | None:
    """libchromaprint's fingerprint of the first `MAX_SECONDS` of `blocks`
    (16-bit PCM), as fpcalc would give it, or None (fpcalc is then asked)."""
    import acoustid

    try:
        compressed = acoustid.fingerprint(samplerate, channels, blocks, MAX_SECONDS)
    except acoustid.FingerprintGenerationError:
        return None
    fingerprint = _text(compressed)
    if not fingerprint:  # too short: fpcalc says so in its words
        return None
    return FpcalcResult(path, duration=duration, fingerprint=fingerprint)


def _text(compressed: bytes | str) -> str:
    if isinstance(compressed, bytes):
        return compressed.decode("ascii", "replace")
    return compressed
