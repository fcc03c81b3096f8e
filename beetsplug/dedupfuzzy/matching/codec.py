"""Chromaprint's compressed fingerprint strings <-> raw 32-bit frames.

The base64 text that `fpcalc` prints (and that the chroma plugin stores in
`acoustid_fingerprint`) changes completely when audio is transcoded, so it is
never compared as text: it is decoded to its raw frames first, through
pyacoustid's public `chromaprint` module.
"""

from __future__ import annotations

from array import array

import numpy as np

ALGORITHM = 1  # Chromaprint's default (TEST2), the one fpcalc uses.


class CodecError(ValueError):
    """A stored fingerprint string could not be decoded."""


def _chromaprint():
    try:
        import chromaprint
    except ImportError as exc:  # pragma: no cover - depends on the system
        raise CodecError(
            "libchromaprint not found: install libchromaprint1 "
            "(Debian: apt-get install libchromaprint-tools)"
        ) from exc
    return chromaprint


def decode(fingerprint: str | bytes) -> np.ndarray:
    """Return the raw frames (uint32) of a compressed base64 fingerprint."""
    data = fingerprint.encode("ascii") if isinstance(fingerprint, str) else fingerprint
    if not data:
        raise CodecError("empty fingerprint")
    chromaprint = _chromaprint()
    try:
        frames, _algorithm = chromaprint.decode_fingerprint(data)
    except chromaprint.FingerprintError as exc:
        raise CodecError("malformed fingerprint string") from exc
    # array('I') packs the list of ints in C, far faster than numpy does.
    return np.frombuffer(array("I", frames), dtype=np.uint32)


def encode(frames: np.ndarray) -> str:
    """Return the compressed base64 string of raw frames (as fpcalc prints it)."""
    chromaprint = _chromaprint()
    signed = np.ascontiguousarray(frames, dtype=np.uint32).view(np.int32)
    try:
        text = chromaprint.encode_fingerprint(signed.tolist(), ALGORITHM)
    except chromaprint.FingerprintError as exc:
        raise CodecError("could not encode fingerprint") from exc
    return text.decode("ascii")
