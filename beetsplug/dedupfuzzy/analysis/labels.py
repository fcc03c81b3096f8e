"""The lossless check's words as stored on items: verdicts and source codes.

Kept apart from the analysis itself (numpy, ffmpeg) because ranking copies
(`quality`) reads them on every run, including `beet mirror`'s, which
decodes nothing.
"""

from __future__ import annotations

GENUINE = "genuine"
FAKE = "fake"
UNKNOWN = "unknown"
VERDICTS = (GENUINE, FAKE, UNKNOWN)

LOSSY_KINDS = {"lossy": "lossy", "mp3": "MP3", "aac": "AAC", "vorbis": "Vorbis"}


def parse_source(code: str) -> tuple[int, int]:
    """(lossy kbps, original sample rate) from a stored source code."""
    kind, _, number = (code or "").partition("-")
    value = int(number) if number.isdigit() else 0
    if kind in LOSSY_KINDS:
        return value, 0
    if kind == "upsampled":
        return 0, value
    return 0, 0


def describe_source(code: str) -> str:
    """A stored source code in words."""
    kbps, rate = parse_source(code)
    if kbps:
        return f"{LOSSY_KINDS[code.partition('-')[0]]} ~{kbps} kbps"
    if rate:
        return f"upsampled from {rate / 1000:g} kHz"
    return ""
