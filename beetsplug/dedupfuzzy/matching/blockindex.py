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
stay close while other songs' lie far away. An off-speed copy (vinyl, tape)
keeps neither, so the sketch carries a third summary that survives speed
errors: the repetition profile (`repetition`). `candidates.py` searches all.

The sketch is stored on each item as a flexible attribute
(`dedupfuzzy_blocks`), so a warm run needs no decoding at all.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import repetition as rep
from .similarity import head

INDEX_VERSION = "4"
KEYS_PER_TRACK = 48
# How many more frames than keys pass a run's bound in `_bottom_k_many`
# (where all its frames differ).
_SPARE = 4


@dataclass(frozen=True)
class Sketch:
    """One track's keys (uint32 hashes) and their first frame positions."""

    keys: np.ndarray
    positions: np.ndarray
    profile: np.ndarray | None = None
    repetition: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return len(self.keys) == 0


EMPTY = Sketch(np.zeros(0, np.uint32), np.zeros(0, np.int32))


def _mix(values: np.ndarray) -> np.ndarray:
    """A fixed 32-bit integer hash (murmur3's finaliser); uint32 arithmetic
    wraps as the finaliser's does."""
    h = values.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def sketch(frames: np.ndarray, informative: bool = True) -> Sketch:
    """Return the bottom-k sketch of a fingerprint's head (`similarity.head`).

    A fingerprint without enough information (silence, a steady tone) gets
    an empty sketch: it is never a candidate for anything.
    """
    return sketch_many([frames], [informative])[0]


def sketch_many(
    prints: Sequence[np.ndarray], informative: Sequence[bool]
) -> list[Sketch]:
    """`sketch` of many fingerprints: the hashes, bit profiles and repetition
    profiles of all of them computed together (a first run sketches every
    track, and numpy's cost per call outweighs one track's arithmetic)."""
    taken = [
        head(f) if ok and len(f) else None
        for f, ok in zip(prints, informative, strict=True)
    ]
    heads = [h for h in taken if h is not None]
    if not heads:
        return [EMPTY] * len(prints)
    lengths = np.array([len(h) for h in heads], dtype=np.int64)
    frames = np.concatenate(heads)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    keys, positions = _bottom_k_many(_mix(frames), starts, lengths)
    profiles = _bit_profiles(frames, lengths)
    repetitions = rep.repetition_profiles(heads)
    made = iter(
        Sketch(k, p, profile, repetition)
        for k, p, profile, repetition in zip(
            keys, positions, profiles, repetitions, strict=True
        )
    )
    return [EMPTY if h is None else next(made) for h in taken]


def _bottom_k_many(
    hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per run of `hashes` (non-empty runs at `starts`): its `KEYS_PER_TRACK`
    smallest distinct hashes, in order, and the positions where each first
    occurs.

    A run's smallest hashes lie below a bound: hashes are uniform, so a bound
    that `_SPARE` times the keys wanted pass when all of a run's frames differ
    leaves a few hundred frames of the run's thousand (all its occurrences of
    the hashes that pass). Each frame is coded as (hash, position) in one
    64-bit number, the frames passed side by side in a narrow matrix: sorted,
    a row holds its smallest distinct hashes, each first at its first
    position. A run with too few distinct hashes below its bound (many
    repeated frames) is done on its own.
    """
    k = KEYS_PER_TRACK
    n = len(lengths)
    blank = np.iinfo(np.uint64).max
    bound = _SPARE * k * 2.0**32 / np.maximum(lengths, 1)
    # A bound past the largest hash lets the whole run pass: its answer is
    # exact, however few its distinct hashes.
    every = bound >= 2.0**32
    kept = np.flatnonzero(
        hashes <= np.repeat(np.minimum(bound, 2.0**32 - 1).astype(np.uint32), lengths)
    )
    row = np.repeat(np.arange(n), lengths)[kept]
    per_row = np.bincount(row, minlength=n)
    rank = np.arange(len(kept)) - (np.cumsum(per_row) - per_row)[row]
    codes = np.full((n, max(1, int(per_row.max(initial=0)))), blank, np.uint64)
    position = (kept - starts[row]).astype(np.uint64)
    codes[row, rank] = (hashes[kept].astype(np.uint64) << np.uint64(32)) | position
    codes.sort(axis=1)
    values = codes >> np.uint64(32)
    first = codes != blank
    first[:, 1:] &= values[:, 1:] != values[:, :-1]
    taken = first & (np.cumsum(first, axis=1) <= k)
    counts = taken.sum(axis=1)
    chosen = codes[taken]
    bounds = np.cumsum(counts)[:-1]
    keys = np.split((chosen >> np.uint64(32)).astype(np.uint32), bounds)
    positions = np.split((chosen & np.uint64(0xFFFFFFFF)).astype(np.int32), bounds)
    for r in np.flatnonzero((counts < k) & ~every).tolist():
        run = hashes[starts[r] : starts[r] + lengths[r]]
        _, where = np.unique(run, return_index=True)
        keys[r], positions[r] = (
            run[where[:k]],
            where[:k].astype(np.int32),
        )
    return keys, positions


# Bit j of each byte value, for counting set bits a byte at a time.
_BYTE_BITS = np.unpackbits(
    np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little"
).astype(np.float64)


def _bit_profiles(frames: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per run of `frames` (non-empty runs, laid end to end, of `lengths`):
    the share of its frames in which each of the 32 bits is set
    (float32[32]). Counted from a histogram of each byte's values per run:
    256 counts per byte rather than 32 per frame."""
    raw = np.ascontiguousarray(frames, dtype="<u4").view(np.uint8).reshape(-1, 4)
    base = np.repeat(np.arange(len(lengths)) * 256, lengths)
    counts = np.empty((len(lengths), 4, 256), np.float64)
    for byte in range(4):
        counts[:, byte] = np.bincount(
            base + raw[:, byte], minlength=256 * len(lengths)
        ).reshape(-1, 256)
    ones = (counts @ _BYTE_BITS).reshape(-1, 32)
    return (ones / np.maximum(1, lengths)[:, None]).astype(np.float32)


def encode_sketch(s: Sketch) -> str:
    """The text stored in the `dedupfuzzy_blocks` flexible attribute."""
    payload = s.keys.astype("<u4").tobytes() + s.positions.astype("<u2").tobytes()
    text = f"{INDEX_VERSION}:" + base64.b64encode(payload).decode("ascii")
    if s.profile is not None:
        quantised = np.round(s.profile * 255).astype(np.uint8).tobytes()
        text += ":" + base64.b64encode(quantised).decode("ascii")
        if s.repetition is not None:
            text += ":" + base64.b64encode(rep.encode(s.repetition)).decode("ascii")
    return text


def decode_sketch(text: str | None) -> Sketch | None:
    """Parse a stored sketch; None when missing or of another index version."""
    if not text:
        return None
    version, _, rest = text.partition(":")
    if version != INDEX_VERSION:
        return None
    body, _, profile_text = rest.partition(":")
    profile_text, _, repetition_text = profile_text.partition(":")
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
        repetition = (
            rep.decode(base64.b64decode(repetition_text)) if repetition_text else None
        )
    except ValueError:
        return None
    n = len(raw) // 6
    keys = np.frombuffer(raw[: 4 * n], dtype="<u4").astype(np.uint32)
    positions = np.frombuffer(raw[4 * n : 6 * n], dtype="<u2").astype(np.int32)
    if profile is not None and len(profile) != 32:
        profile = None
    return Sketch(keys, positions, profile, repetition)


@dataclass
class SketchTable:
    """Many sketches as arrays, row by row: what a library-wide index needs.

    `counts[i]` is how many keys row i has (0: an empty sketch, nothing to
    match; -1: no valid sketch stored); profiles and repetition profiles are
    NaN where missing.
    """

    keys: np.ndarray
    positions: np.ndarray
    counts: np.ndarray
    profiles: np.ndarray
    repetitions: np.ndarray

    @classmethod
    def empty(cls, n: int) -> SketchTable:
        return cls(
            np.zeros((n, KEYS_PER_TRACK), np.uint32),
            # Positions lie in the head (about 1,000 frames): stored in 16 bits.
            np.zeros((n, KEYS_PER_TRACK), np.uint16),
            np.full(n, -1, np.int32),
            np.full((n, 32), np.nan, np.float32),
            np.full((n, rep.DIMS), np.nan, np.float32),
        )

    @classmethod
    def of(cls, sketches: Sequence[Sketch | None]) -> SketchTable:
        table = cls.empty(len(sketches))
        for i, s in enumerate(sketches):
            table.put(i, s)
        return table

    @classmethod
    def decode(cls, texts: Sequence[str | None]) -> SketchTable:
        """Parse stored sketches in bulk; others row by row."""
        table = cls.empty(len(texts))
        fast: list[int] = []
        bodies: list[str] = []
        profiles: list[bytes] = []
        repetitions: list[bytes] = []
        for i, text in enumerate(texts):
            if text and len(text) == _TEXT_LENGTH and text.startswith(_PREFIX):
                try:
                    profile = binascii.a2b_base64(text[_PROFILE_AT:_PROFILE_END])
                    repetition = binascii.a2b_base64(text[_REPETITION_AT:])
                except binascii.Error:
                    continue
                profiles.append(profile)
                repetitions.append(repetition)
                fast.append(i)
                bodies.append(text[len(_PREFIX) : _PROFILE_AT - 1])
            else:
                table.put(i, decode_sketch(text))
        if fast:
            raw = np.frombuffer(base64.b64decode("".join(bodies)), np.uint8)
            raw = raw.reshape(len(fast), 6 * KEYS_PER_TRACK)
            cut = 4 * KEYS_PER_TRACK
            table.keys[fast] = raw[:, :cut].copy().view("<u4")
            table.positions[fast] = raw[:, cut:].copy().view("<u2")
            table.counts[fast] = KEYS_PER_TRACK
            quantised = np.frombuffer(b"".join(profiles), np.uint8).reshape(-1, 32)
            table.profiles[fast] = quantised.astype(np.float32) / 255
            table.repetitions[fast] = rep.decode_many(
                np.frombuffer(b"".join(repetitions), np.uint8).reshape(-1, rep.DIMS)
            )
        return table

    def __len__(self) -> int:
        return len(self.counts)

    def take(self, rows: Sequence[int], other: SketchTable) -> None:
        """Rows `rows` become the rows of `other`, in order."""
        self.keys[rows] = other.keys
        self.positions[rows] = other.positions
        self.counts[rows] = other.counts
        self.profiles[rows] = other.profiles
        self.repetitions[rows] = other.repetitions

    def put(self, i: int, s: Sketch | None) -> None:
        if s is None:
            self.counts[i] = -1
            return
        n = len(s.keys)
        self.keys[i, :n] = s.keys
        self.positions[i, :n] = s.positions
        self.counts[i] = n
        if s.profile is not None:
            self.profiles[i] = s.profile
        if s.repetition is not None:
            self.repetitions[i] = s.repetition

    def encode(self) -> list[str | None]:
        """Every row's `encode_sketch` text (None for a row without a valid
        sketch). Full sketches are encoded together: a first run encodes
        every track's, and one at a time took a tenth of sketching it."""
        texts: list[str | None] = [None] * len(self)
        full = np.flatnonzero(
            (self.counts == KEYS_PER_TRACK)
            & ~np.isnan(self.profiles[:, 0])
            & ~np.isnan(self.repetitions[:, 0])
        )
        if len(full):
            m = len(full)
            payload = np.concatenate(
                [
                    self.keys[full].astype("<u4").view(np.uint8).reshape(m, -1),
                    self.positions[full].astype("<u2").view(np.uint8).reshape(m, -1),
                ],
                axis=1,
            )
            # 32 bytes of profile encode as 43 characters and a pad; with a
            # zero byte more, as the same 43 and one more, replaced by the pad.
            profile = np.zeros((m, 33), np.uint8)
            profile[:, :32] = np.round(self.profiles[full] * 255).astype(np.uint8)
            lines = np.empty((m, _TEXT_LENGTH), np.uint8)
            lines[:, : len(_PREFIX)] = np.frombuffer(_PREFIX.encode(), np.uint8)
            lines[:, len(_PREFIX) : _PROFILE_AT - 1] = _base64_rows(payload)
            lines[:, _PROFILE_AT - 1] = lines[:, _REPETITION_AT - 1] = ord(":")
            lines[:, _PROFILE_AT:_PROFILE_END] = _base64_rows(profile)
            lines[:, _PROFILE_END - 1] = ord("=")
            quantised = np.frombuffer(rep.encode(self.repetitions[full]), np.uint8)
            lines[:, _REPETITION_AT:] = _base64_rows(quantised.reshape(m, -1))
            text = lines.tobytes().decode("ascii")
            for row, k in enumerate(full.tolist()):
                texts[k] = text[row * _TEXT_LENGTH : (row + 1) * _TEXT_LENGTH]
        rest = np.ones(len(self), bool)
        rest[full] = False
        for k in np.flatnonzero(rest).tolist():
            s = self.sketch(k)
            texts[k] = None if s is None else encode_sketch(s)
        return texts

    def sketch(self, i: int) -> Sketch | None:
        n = int(self.counts[i])
        if n < 0:
            return None
        if n == 0:
            return EMPTY
        profile = self.profiles[i]
        repetition = self.repetitions[i]
        return Sketch(
            self.keys[i, :n].copy(),
            self.positions[i, :n].astype(np.int32),
            None if np.isnan(profile[0]) else profile.copy(),
            None if np.isnan(repetition[0]) else repetition.copy(),
        )


_PREFIX = f"{INDEX_VERSION}:"
# A full sketch's text: keys and positions (288 bytes), a profile (32 bytes),
# a repetition profile (48 bytes).
_PROFILE_AT = len(_PREFIX) + 4 * (6 * KEYS_PER_TRACK // 3) + 1
_PROFILE_END = _PROFILE_AT + 44
_REPETITION_AT = _PROFILE_END + 1
_TEXT_LENGTH = _REPETITION_AT + 4 * ((rep.DIMS + 2) // 3)


def _base64_rows(rows: np.ndarray) -> np.ndarray:
    """Each row's base64 (rows of a multiple of 3 bytes: no padding)."""
    encoded = base64.b64encode(np.ascontiguousarray(rows).tobytes())
    return np.frombuffer(encoded, np.uint8).reshape(len(rows), -1)
