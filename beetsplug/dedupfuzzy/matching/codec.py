"""Chromaprint's compressed fingerprint strings <-> raw 32-bit frames.

The base64 text that `fpcalc` prints (and that the chroma plugin stores in
`acoustid_fingerprint`) changes completely when audio is transcoded, so it is
never compared as text: it is decoded to its raw frames first.

A first run decodes every fingerprint of the library twice (to sketch it,
then to verify its candidate pairs): pyacoustid's public
`chromaprint.decode_fingerprint` returns a Python list (one int object per
frame), which costs three times the decoding itself. So frames are decoded
through libchromaprint's own public C API (`chromaprint_decode_fingerprint`,
declared in chromaprint.h) straight into a numpy array; pyacoustid's function
is the fallback when the library cannot be loaded by ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from array import array
from functools import cache

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


_Frames = ctypes.POINTER(ctypes.c_uint32)


@cache
def _libchromaprint() -> ctypes.CDLL | None:
    """libchromaprint's C API, or None (then pyacoustid decodes)."""
    name = ctypes.util.find_library("chromaprint")
    try:
        lib = ctypes.CDLL(name or "libchromaprint.so.1")
        decode_fn = lib.chromaprint_decode_fingerprint
        dealloc = lib.chromaprint_dealloc
    except (OSError, AttributeError):  # pragma: no cover - depends on the system
        return None
    decode_fn.argtypes = [
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(_Frames),
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    decode_fn.restype = ctypes.c_int
    dealloc.argtypes = [ctypes.c_void_p]
    dealloc.restype = None
    return lib


def decode(fingerprint: str | bytes) -> np.ndarray:
    """Return the raw frames (uint32) of a compressed base64 fingerprint."""
    try:
        data = (
            fingerprint.encode("ascii")
            if isinstance(fingerprint, str)
            else bytes(fingerprint)
        )
    except UnicodeEncodeError as exc:
        raise CodecError("not a fingerprint: characters outside base64") from exc
    # Chromaprint's base64 has no padding. libchromaprint before 1.6.1 writes
    # past its buffer when bytes follow the data (a tag written by a tool
    # that pads its base64), which aborts the whole process: padding and
    # surrounding blanks are never passed on.
    data = data.strip().rstrip(b"=")
    if not data:
        raise CodecError("empty fingerprint")
    lib = _libchromaprint()
    if lib is None:  # pragma: no cover - depends on the system
        return _decode_pyacoustid(data)
    frames = _Frames()
    size = ctypes.c_int()
    algorithm = ctypes.c_int()
    ok = lib.chromaprint_decode_fingerprint(
        data, len(data), ctypes.byref(frames), ctypes.byref(size),
        ctypes.byref(algorithm), 1,
    )  # fmt: skip
    try:
        if ok != 1:
            raise CodecError("malformed fingerprint string")
        if size.value <= 0:
            return np.zeros(0, np.uint32)
        # One copy into a new array (numpy's `as_array` view costs 10 us more).
        out = np.empty(size.value, np.uint32)
        ctypes.memmove(out.ctypes.data, frames, 4 * size.value)
        return out
    finally:
        if frames:
            lib.chromaprint_dealloc(frames)


def _decode_pyacoustid(data: bytes) -> np.ndarray:
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
