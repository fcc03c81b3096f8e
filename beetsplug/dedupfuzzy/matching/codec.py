"""Chromaprint's compressed fingerprint strings <-> raw 32-bit frames.

The base64 text that `fpcalc` prints (and that the chroma plugin stores in
`acoustid_fingerprint`) changes completely when audio is transcoded, so it is
never compared as text: it is decoded to its raw frames first.
"""

from __future__ import annotations

import ctypes

import numpy as np

ALGORITHM = 1  # Chromaprint's default (TEST2), the one fpcalc uses.


class CodecError(ValueError):
    """A stored fingerprint string could not be decoded."""


def _library() -> ctypes.CDLL:
    try:
        import chromaprint
    except ImportError as exc:  # pragma: no cover - depends on the system
        raise CodecError(
            "libchromaprint not found: install libchromaprint1 "
            "(Debian: apt-get install libchromaprint-tools)"
        ) from exc
    return chromaprint._libchromaprint


_lib: ctypes.CDLL | None = None


def _lib_handle() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _library()
    return _lib


def decode(fingerprint: str | bytes) -> np.ndarray:
    """Return the raw frames (uint32) of a compressed base64 fingerprint."""
    data = fingerprint.encode("ascii") if isinstance(fingerprint, str) else fingerprint
    if not data:
        raise CodecError("empty fingerprint")
    lib = _lib_handle()
    result = ctypes.POINTER(ctypes.c_uint32)()
    size = ctypes.c_int()
    algorithm = ctypes.c_int()
    ok = lib.chromaprint_decode_fingerprint(
        data,
        len(data),
        ctypes.byref(result),
        ctypes.byref(size),
        ctypes.byref(algorithm),
        1,
    )
    if ok != 1 or not result:
        raise CodecError("malformed fingerprint string")
    try:
        if size.value <= 0:
            return np.zeros(0, dtype=np.uint32)
        return np.ctypeslib.as_array(result, shape=(size.value,)).copy()
    finally:
        lib.chromaprint_dealloc(result)


def encode(frames: np.ndarray) -> str:
    """Return the compressed base64 string of raw frames (as fpcalc prints it)."""
    lib = _lib_handle()
    raw = np.ascontiguousarray(frames, dtype=np.uint32)
    out = ctypes.POINTER(ctypes.c_char)()
    size = ctypes.c_int()
    ok = lib.chromaprint_encode_fingerprint(
        raw.view(np.int32).ctypes.data_as(ctypes.POINTER(ctypes.c_int)),
        len(raw),
        ALGORITHM,
        ctypes.byref(out),
        ctypes.byref(size),
        1,
    )
    if ok != 1:
        raise CodecError("could not encode fingerprint")
    try:
        return ctypes.string_at(out, size.value).decode("ascii")
    finally:
        lib.chromaprint_dealloc(out)
