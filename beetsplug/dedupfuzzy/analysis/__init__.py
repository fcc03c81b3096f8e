"""Tell genuine lossless files from lossless files made from lossy ones.

`analyse_file` decodes a few excerpts at the file's own sample rate
(`decode`), takes their spectra (`spectrum`) and judges them (`verdict`).
It runs in the fingerprinting workers, once per file: the verdict is stored
with the fingerprint and follows the same freshness rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .labels import FAKE, GENUINE, UNKNOWN, VERDICTS

if TYPE_CHECKING:
    from .decode import Excerpts
    from .verdict import Analysis

__all__ = ["FAKE", "GENUINE", "UNKNOWN", "VERDICTS", "analyse_excerpts", "analyse_file"]


def analyse_file(path: bytes, length: float, samplerate: int = 0) -> Analysis:
    """The verdict on one file; a file that cannot be decoded gets an error."""
    # numpy is loaded here, by the fingerprinting workers, not by every
    # command that only reads the stored verdicts.
    from .decode import DecodeError
    from .readers import decode_excerpts
    from .verdict import Analysis

    try:
        excerpts = decode_excerpts(path, length, samplerate)
    except DecodeError as exc:
        return Analysis(UNKNOWN, error=str(exc))
    return analyse_excerpts(path, length, excerpts)


def analyse_excerpts(path: bytes, length: float, excerpts: Excerpts) -> Analysis:
    """The verdict on excerpts already decoded (`readers.open_reader`); the
    file is read again only if it looks upsampled and its excerpts cannot
    be resampled in memory."""
    from dataclasses import replace

    from .decode import DecodeError, resampled
    from .readers import decode_excerpts
    from .verdict import bits_of, codec_trace, judge

    found = judge(excerpts.parts, excerpts.samplerate)
    if found.grid_rate and found.verdict != FAKE:
        # perhaps upsampled: a source's codec grid is on the source's samples
        source = resampled(excerpts, found.grid_rate)
        if source is None:  # not on the source's samples: ffmpeg resamples
            try:
                source = decode_excerpts(
                    path, length, excerpts.samplerate, found.grid_rate
                )
            except DecodeError:
                return found
        # the resampler's own band edge stays out of the comparison
        top = min(found.cutoff, found.grid_rate / 2 * 0.9)
        traced = codec_trace(
            source.parts, source.samplerate, top, bits_of(source.parts)
        )
        if traced is not None:
            return replace(
                traced,
                cutoff=min(found.cutoff, source.samplerate // 2),
                source_rate=found.grid_rate,
            )
    return found
