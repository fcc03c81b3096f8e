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
    from .verdict import Analysis

__all__ = ["FAKE", "GENUINE", "UNKNOWN", "VERDICTS", "analyse_file"]


def analyse_file(path: bytes, length: float, samplerate: int = 0) -> Analysis:
    """The verdict on one file; a file that cannot be decoded gets an error."""
    # numpy is loaded here, by the fingerprinting workers, not by every
    # command that only reads the stored verdicts.
    from .decode import DecodeError, decode_excerpts
    from .verdict import Analysis, judge

    try:
        excerpts = decode_excerpts(path, length, samplerate)
    except DecodeError as exc:
        return Analysis(UNKNOWN, error=str(exc))
    return judge(excerpts.parts, excerpts.samplerate)
