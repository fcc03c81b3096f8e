"""The block index: a few keys per recording that find candidate pairs.

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
stay close while other songs' lie far away; `neighbours.py` searches them.

The sketch is stored on each item as a flexible attribute
(`dedupfuzzy_blocks`), so a warm run needs no decoding at all.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INDEX_VERSION = "2"
KEYS_PER_TRACK = 48
# Keys shared by more tracks than this are generic (quiet passages, common
# chroma patterns) and carry no identity: they are ignored.
MAX_POSTINGS = 24
MAX_HINTS = 3


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


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs (indexes into the track list, a < b) and shift hints."""

    pairs: list[tuple[int, int]]
    hints: dict[tuple[int, int], list[int]]
    shared: dict[tuple[int, int], int]


def _postings(sketches: Sequence[Sketch]) -> tuple[np.ndarray, ...]:
    sizes = np.fromiter((len(s.keys) for s in sketches), dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty.astype(np.uint32), empty
    owner = np.repeat(np.arange(len(sketches), dtype=np.int64), sizes)
    keys = np.concatenate([s.keys for s in sketches if len(s.keys)])
    positions = np.concatenate([s.positions for s in sketches if len(s.keys)]).astype(
        np.int64
    )
    order = np.argsort(keys, kind="stable")
    keys, owner, positions = keys[order], owner[order], positions[order]
    # Drop keys that are too common to say anything.
    _, starts, counts = np.unique(keys, return_index=True, return_counts=True)
    df = np.repeat(counts, counts)
    keep = (df >= 2) & (df <= MAX_POSTINGS)
    return owner[keep], keys[keep], positions[keep]


def candidate_pairs(sketches: Sequence[Sketch], min_shared: int = 1) -> Candidates:
    """All pairs of tracks that share at least `min_shared` sketch keys.

    Works on sorted posting arrays, so the cost grows with the number of
    shared keys, not with the square of the library size.
    """
    owner, keys, positions = _postings(sketches)
    a_parts, b_parts, s_parts = [], [], []
    for d in range(1, MAX_POSTINGS):
        if d >= len(keys):
            break
        same = keys[:-d] == keys[d:]
        if not same.any():
            break
        i = np.nonzero(same)[0]
        oa, ob = owner[i], owner[i + d]
        shift = positions[i + d] - positions[i]
        swap = oa > ob
        a_parts.append(np.where(swap, ob, oa))
        b_parts.append(np.where(swap, oa, ob))
        s_parts.append(np.where(swap, -shift, shift))
    if not a_parts:
        return Candidates([], {}, {})
    a = np.concatenate(a_parts)
    b = np.concatenate(b_parts)
    s = np.concatenate(s_parts)
    n = len(sketches)
    pair_code = a * n + b
    # Count (pair, shift) occurrences, then keep the commonest shifts per pair.
    combo = np.stack([pair_code, s], axis=1)
    uniq, counts = np.unique(combo, axis=0, return_counts=True)
    order = np.lexsort((-counts, uniq[:, 0]))
    uniq, counts = uniq[order], counts[order]
    hints: dict[tuple[int, int], list[int]] = defaultdict(list)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for (code, shift), count in zip(uniq.tolist(), counts.tolist(), strict=True):
        pair = (code // n, code % n)
        shared[pair] += count
        if len(hints[pair]) < MAX_HINTS:
            hints[pair].append(shift)
    pairs = sorted(p for p, c in shared.items() if c >= min_shared)
    return Candidates(pairs, dict(hints), dict(shared))


class BlockIndex:
    """A query structure over many sketches: which tracks share keys with one?

    Built once per import session so each new track is matched against the
    whole library with a few dictionary look-ups.
    """

    def __init__(self) -> None:
        self._postings: dict[int, list[tuple[int, int]]] = defaultdict(list)

    def add(self, track_id: int, s: Sketch) -> None:
        for key, pos in zip(s.keys.tolist(), s.positions.tolist(), strict=True):
            self._postings[key].append((track_id, pos))

    def discard(self, track_id: int, s: Sketch) -> None:
        for key in s.keys.tolist():
            postings = self._postings.get(key)
            if postings:
                postings[:] = [p for p in postings if p[0] != track_id]

    def query(self, s: Sketch) -> dict[int, list[int]]:
        """Tracks sharing keys with `s`, each with shift hints (commonest first)."""
        found: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for key, pos in zip(s.keys.tolist(), s.positions.tolist(), strict=True):
            postings = self._postings.get(key)
            if not postings or len(postings) > MAX_POSTINGS:
                continue
            for track_id, other_pos in postings:
                found[track_id][other_pos - pos] += 1
        return {
            track_id: sorted(shifts, key=shifts.__getitem__, reverse=True)[:MAX_HINTS]
            for track_id, shifts in found.items()
        }
