"""Sketches: a few keys and a bit profile per recording, to find candidates.

Comparing every pair of tracks is out of the question (a 100,000-track
library has five billion pairs), so each fingerprint is summarised by a
bottom-k sketch of its frame values: the `KEYS_PER_TRACK` distinct frame
values with the smallest hashes, each with the position where it first
occurs. A set sketch does not depend on where the audio starts, and two
copies of one recording keep many frames bit-identical, so they share keys;
different songs almost never do. The positions of shared keys give the time
offset to verify at.

Heavy processing (a remaster with EQ and compression) leaves hardly any frame
bit-identical, so each sketch also carries a profile: how often each of the
32 bits is set over the whole fingerprint. Profiles of copies of a recording
stay close while other songs' lie far away. `candidates.py` searches both.

The sketch is stored on each item as a flexible attribute
(`dedupfuzzy_blocks`), so a warm run needs no decoding at all.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

INDEX_VERSION = "2"
KEYS_PER_TRACK = 48


@dataclass(frozen=True)
class Sketch:
    """One track's keys (uint32 hashes) and their first frame positions."""

    keys: np.ndarray
    positions: np.ndarray
    profile: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return len(self.keys) == 0


EMPTY = Sketch(np.zeros(0, np.uint32), np.zeros(0, np.int32))


def _mix(values: np.ndarray) -> np.ndarray:
    """A fixed 32-bit integer hash (murmur3's finaliser)."""
    h = values.astype(np.uint64)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return h.astype(np.uint32)


def sketch(frames: np.ndarray, informative: bool = True) -> Sketch:
    """Return the bottom-k sketch of a fingerprint's frames.

    A fingerprint without enough information (silence, a steady tone) gets
    an empty sketch: it is never a candidate for anything.
    """
    if not informative or len(frames) == 0:
        return EMPTY
    values, first = np.unique(frames, return_index=True)
    hashes = _mix(values)
    order = np.argsort(hashes, kind="stable")[:KEYS_PER_TRACK]
    return Sketch(hashes[order], first[order].astype(np.int32), bit_profile(frames))


def bit_profile(frames: np.ndarray) -> np.ndarray:
    """The share of frames in which each of the 32 bits is set (float32[32])."""
    bits = (frames[:, None] >> np.arange(32, dtype=np.uint32)) & np.uint32(1)
    return bits.mean(axis=0, dtype=np.float64).astype(np.float32)


def encode_sketch(s: Sketch) -> str:
    """The text stored in the `dedupfuzzy_blocks` flexible attribute."""
    payload = s.keys.astype("<u4").tobytes() + s.positions.astype("<u2").tobytes()
    text = f"{INDEX_VERSION}:" + base64.b64encode(payload).decode("ascii")
    if s.profile is not None:
        quantised = np.round(s.profile * 255).astype(np.uint8).tobytes()
        text += ":" + base64.b64encode(quantised).decode("ascii")
    return text


def decode_sketch(text: str | None) -> Sketch | None:
    """Parse a stored sketch; None when missing or of another index version."""
    if not text:
        return None
    version, _, rest = text.partition(":")
    if version != INDEX_VERSION:
        return None
    body, _, profile_text = rest.partition(":")
    try:
        raw = base64.b64decode(body)
        profile = (
            np.frombuffer(base64.b64decode(profile_text), dtype=np.uint8).astype(
                np.float32
            )
            / 255
            if profile_text
            else None
        )
    except ValueError:
        return None
    n = len(raw) // 6
    keys = np.frombuffer(raw[: 4 * n], dtype="<u4").astype(np.uint32)
    positions = np.frombuffer(raw[4 * n : 6 * n], dtype="<u2").astype(np.int32)
    if profile is not None and len(profile) != 32:
        profile = None
    return Sketch(keys, positions, profile)
