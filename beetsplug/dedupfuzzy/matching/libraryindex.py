"""Match the items of an import, one at a time, against the whole library.

`beet dedupfuzzy` matches every track with every other in one batch; an
import needs the opposite shape: the library is indexed once when the import
begins, then each new item is looked up on its own, in a few milliseconds,
and stays in the index so the later items of the same import find it.

The library part of the index is a set of flat numpy arrays (sketch keys
sorted for binary search, bit profiles sorted by length): a dictionary of
Python lists would need over a gigabyte for 100,000 tracks. Items added
during the import go into a small `BlockIndex`. Fingerprints of library
items are not held in memory: the few that a verification needs are read
from the database and decoded when asked for.

The decision functions at the end are pure: given the new copy, the copies
it duplicates and a policy, they say which copies leave.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from beets.library import Library

from .. import quality
from ..fingerprinting import refresh as fingerprints
from ..fingerprinting.excerpts import ExcerptSource
from ..scan import track_of
from ..settings import MatchSettings
from ..store import catalog
from . import blockindex
from .blockindex import MAX_HINTS, MAX_POSTINGS, BlockIndex, Sketch
from .matcher import Match, Track, Verifier
from .neighbours import NEIGHBOURS, PROFILE_RADIUS

# A single query only sees its own nearest profiles (the batch scan also
# gets the pairs where it is someone else's nearest), so it asks for more.
QUERY_NEIGHBOURS = 2 * NEIGHBOURS
FRAME_CACHE = 512


def sketch_of_row(row: catalog.Row) -> Sketch | None:
    """The row's stored sketch, or one computed from its fingerprint."""
    s = blockindex.decode_sketch(row.blocks)
    if s is not None or not row.fingerprint:
        return s
    frames = fingerprints.frames_of_fingerprint(row.fingerprint)
    return None if frames is None else fingerprints.sketch_of(frames)


class _Tracks(dict):
    """Track records built on first use from the index's rows."""

    def __init__(self, rows: dict[int, catalog.Row]) -> None:
        super().__init__()
        self._rows = rows

    def __missing__(self, item_id: int) -> Track:
        track = track_of(self._rows[item_id])
        self[item_id] = track
        return track


class LibraryIndex:
    """Every fingerprinted library item, ready for one-at-a-time matching."""

    def __init__(self, lib: Library | None, settings: MatchSettings) -> None:
        self.lib = lib
        self.settings = settings
        self.rows: dict[int, catalog.Row] = {}
        self.unfingerprinted = 0
        self._by_path: dict[bytes, int] = {}
        # The library part: flat arrays, built once.
        self._ids = np.zeros(0, np.int64)
        self._keys = np.zeros(0, np.uint32)
        self._key_owner = np.zeros(0, np.int32)
        self._key_pos = np.zeros(0, np.int32)
        self._p_len = np.zeros(0, np.float64)
        self._p_vec = np.zeros((0, 32), np.float32)
        self._p_norm = np.zeros(0, np.float32)
        self._p_owner = np.zeros(0, np.int32)
        self._static_gone: set[int] = set()
        # The part that grows during the import.
        self._added = BlockIndex()
        self._added_sketch: dict[int, Sketch] = {}
        self._frames: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self._query: tuple[int, np.ndarray | None] = (-1, None)
        self._tracks = _Tracks(self.rows)
        self._verifier = self._new_verifier()

    # Building.

    @classmethod
    def load(
        cls,
        lib: Library,
        match_settings: MatchSettings,
        upto_id: int | None = None,
    ) -> LibraryIndex:
        """Index the library's items (those with ids up to `upto_id`).

        Items with a fingerprint but no stored sketch get one, written back
        so the next import finds it; items without a fingerprint cannot be
        matched and are only counted (`beet dedupfuzzy` fingerprints them).
        """
        index = cls(lib, match_settings)
        # Paths are stored relative to the music folder; a thread of our own
        # does not inherit beets' binding of that folder.
        with lib.music_dir_context():
            rows = catalog.load_rows(lib)
        if upto_id is not None:
            rows = [r for r in rows if r.id <= upto_id]
        sketches: list[tuple[catalog.Row, Sketch]] = []
        writes: list[tuple[int, str, object]] = []
        for row in rows:
            s = sketch_of_row(row)
            if s is None:
                index.unfingerprinted += 1
            elif not blockindex.decode_sketch(row.blocks):
                writes.append((row.id, catalog.BLOCKS, blockindex.encode_sketch(s)))
            # Frames are read back from the DB when needed, not kept here.
            row.fingerprint = ""
            row.blocks = ""
            index.rows[row.id] = row
            index._by_path[row.path] = row.id
            if s is not None and not s.empty:
                sketches.append((row, s))
        catalog.store_flex(lib, writes)
        index._build_static(sketches)
        return index

    def _build_static(self, sketches: Sequence[tuple[catalog.Row, Sketch]]) -> None:
        n = len(sketches)
        self._ids = np.fromiter((r.id for r, _ in sketches), np.int64, n)
        if n == 0:
            return
        sizes = np.fromiter((len(s.keys) for _, s in sketches), np.int64, n)
        owner = np.repeat(np.arange(n, dtype=np.int32), sizes)
        keys = np.concatenate([s.keys for _, s in sketches]).astype(np.uint32)
        pos = np.concatenate([s.positions for _, s in sketches]).astype(np.int32)
        order = np.argsort(keys, kind="stable")
        keys, owner, pos = keys[order], owner[order], pos[order]
        # Keys shared by many tracks say nothing (as in BlockIndex.query).
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        keep = counts[inverse] <= MAX_POSTINGS
        self._keys, self._key_owner, self._key_pos = keys[keep], owner[keep], pos[keep]

        with_profile = [
            (k, r.length, s.profile)
            for k, (r, s) in enumerate(sketches)
            if s.profile is not None
        ]
        if with_profile:
            lens = np.array([length for _, length, _ in with_profile], np.float64)
            order = np.argsort(lens, kind="stable")
            self._p_len = lens[order]
            self._p_vec = np.stack([p for _, _, p in with_profile]).astype(np.float32)[
                order
            ]
            self._p_norm = (self._p_vec * self._p_vec).sum(axis=1)
            self._p_owner = np.array([k for k, _, _ in with_profile], np.int32)[order]

    def _new_verifier(self) -> Verifier:
        return Verifier(
            self._tracks, self._frames_of, self.settings, audio=ExcerptSource()
        )

    # Growing and shrinking during the import.

    def add(self, row: catalog.Row) -> None:
        """Index one more item (an item just imported) so later ones match it."""
        s = sketch_of_row(row)
        self._forget(row.id)
        self.rows[row.id] = row
        self._by_path[row.path] = row.id
        if s is None or s.empty:
            return
        self._added.add(row.id, s)
        self._added_sketch[row.id] = s
        self._tracks[row.id] = track_of(row, s)

    def discard(self, item_id: int) -> None:
        """Forget an item (it left the library); its id may be reused."""
        self._forget(item_id)

    def _forget(self, item_id: int) -> None:
        old = self.rows.pop(item_id, None)
        if old is not None and self._by_path.get(old.path) == item_id:
            del self._by_path[old.path]
        self._static_gone.add(item_id)
        s = self._added_sketch.pop(item_id, None)
        if s is not None:
            self._added.discard(item_id, s)
        self._tracks.pop(item_id, None)
        self._frames.pop(item_id, None)
        if old is not None:
            # Cached verdicts may concern the item that had this id.
            self._verifier = self._new_verifier()

    def relocate(self, item_id: int, path: bytes) -> None:
        """Note an item's new path (beets moved or copied its file)."""
        row = self.rows.get(item_id)
        if row is None or row.path == path:
            return
        if self._by_path.get(row.path) == item_id:
            del self._by_path[row.path]
        row.path = path
        self._by_path[path] = item_id

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, item_id: int) -> catalog.Row | None:
        return self.rows.get(item_id)

    def id_of_path(self, path: bytes) -> int | None:
        return self._by_path.get(path)

    # Matching.

    def match_row(
        self, row: catalog.Row, exclude: Iterable[int] = frozenset()
    ) -> list[Match]:
        """The indexed items that sound like `row`, best first.

        Candidates come from shared sketch keys and from the nearest bit
        profiles among items of agreeing length; each is verified on its
        frames with the usual guards (length, overlap, silence). Every match
        has `a == row.id`.
        """
        s = sketch_of_row(row)
        if s is None or s.empty:
            return []
        skip = set(exclude)
        skip.add(row.id)
        candidates = self._key_candidates(s)
        for item_id in self._profile_candidates(s.profile, row.length):
            candidates.setdefault(item_id, [])
        fingerprint = row.fingerprint
        if not fingerprint and self.lib is not None:
            fingerprint = _stored_fingerprint(self.lib, row.id)
        frames = (
            fingerprints.frames_of_fingerprint(fingerprint) if fingerprint else None
        )
        self._query = (row.id, frames)
        self._tracks[row.id] = track_of(row, s)
        try:
            query = self._tracks[row.id]
            found = []
            for item_id, hints in candidates.items():
                if item_id in skip or item_id not in self.rows:
                    continue
                if not self._verifier.lengths_agree(query, self._tracks[item_id]):
                    continue
                m = self._verifier.verify(row.id, item_id, hints)
                if m is not None:
                    found.append(_oriented(m, row.id))
        finally:
            self._query = (-1, None)
            if row.id not in self._added_sketch:
                self._tracks.pop(row.id, None)
        found.sort(key=lambda m: (-m.similarity, m.b))
        return found

    def _key_candidates(self, s: Sketch) -> dict[int, list[int]]:
        """Items sharing sketch keys with `s`, with shift hints (commonest first)."""
        shifts: dict[int, Counter[int]] = defaultdict(Counter)
        if len(self._keys):
            lo = np.searchsorted(self._keys, s.keys, side="left")
            hi = np.searchsorted(self._keys, s.keys, side="right")
            for start, stop, pos in zip(
                lo.tolist(), hi.tolist(), s.positions.tolist(), strict=True
            ):
                if start == stop:
                    continue
                owners = self._ids[self._key_owner[start:stop]].tolist()
                for item_id, other in zip(
                    owners, self._key_pos[start:stop].tolist(), strict=True
                ):
                    if item_id not in self._static_gone:
                        shifts[item_id][other - pos] += 1
        for item_id, hints in self._added.query(s).items():
            for rank, shift in enumerate(hints):
                shifts[item_id][shift] += MAX_HINTS - rank
        return {
            item_id: [shift for shift, _ in counter.most_common(MAX_HINTS)]
            for item_id, counter in shifts.items()
        }

    def _profile_candidates(self, profile: np.ndarray | None, length: float) -> list:
        """The nearest profiles among items whose length could match."""
        if profile is None:
            return []
        tol = self.settings.length_tolerance
        q = profile.astype(np.float32)
        r2 = np.float32(PROFILE_RADIUS * PROFILE_RADIUS)
        ids: list[int] = []
        dists: list[float] = []
        lo = int(np.searchsorted(self._p_len, length - tol, side="left"))
        hi = int(np.searchsorted(self._p_len, length + tol, side="right"))
        if hi > lo:
            d2 = self._p_norm[lo:hi] + (q @ q) - 2.0 * (self._p_vec[lo:hi] @ q)
            k = min(hi - lo, QUERY_NEIGHBOURS + 4)
            near = np.argpartition(d2, k - 1)[:k]
            for j in near.tolist():
                item_id = int(self._ids[self._p_owner[lo + j]])
                if d2[j] <= r2 and item_id not in self._static_gone:
                    ids.append(item_id)
                    dists.append(float(d2[j]))
        for item_id, s in self._added_sketch.items():
            row = self.rows[item_id]
            if s.profile is None or abs(row.length - length) > tol:
                continue
            d = float(((s.profile - q) ** 2).sum())
            if d <= r2:
                ids.append(item_id)
                dists.append(d)
        order = np.argsort(np.array(dists), kind="stable")[:QUERY_NEIGHBOURS]
        return [ids[i] for i in order.tolist()]

    def _frames_of(self, item_id: int) -> np.ndarray | None:
        if item_id == self._query[0]:
            return self._query[1]
        if item_id in self._frames:
            self._frames.move_to_end(item_id)
            return self._frames[item_id]
        row = self.rows.get(item_id)
        fingerprint = row.fingerprint if row is not None else ""
        if not fingerprint and row is not None and self.lib is not None:
            fingerprint = _stored_fingerprint(self.lib, item_id)
        frames = (
            fingerprints.frames_of_fingerprint(fingerprint) if fingerprint else None
        )
        self._frames[item_id] = frames
        if len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return frames


def _oriented(m: Match, first: int) -> Match:
    """The match with `first` as its `a` (offsets are relative to `a`)."""
    if m.a == first:
        return m
    offset = round(-m.offset / m.speed, 2) + 0.0
    return Match(first, m.a, m.similarity, offset, round(1.0 / m.speed, 4))


def _stored_fingerprint(lib: Library, item_id: int) -> str:
    """An item's fingerprint as stored: beets' own column, else the flex value.

    `acoustid_fingerprint` is a fixed column of beets' items table (where
    chroma and `Item.store` put it); older runs of this plugin stored it as
    a flexible attribute too.
    """
    with lib.transaction() as tx:
        rows = tx.query(
            f"SELECT {catalog.FINGERPRINT} FROM items WHERE id = ?", (item_id,)
        )
        if rows and rows[0][0]:
            return rows[0][0]
        rows = tx.query(
            "SELECT value FROM item_attributes WHERE entity_id = ? AND key = ?",
            (item_id, catalog.FINGERPRINT),
        )
    return (rows[0][0] or "") if rows else ""


# Deciding which copies stay.


@dataclass(frozen=True)
class Verdict:
    """What happens to a new copy and the library copies it duplicates."""

    new_leaves: bool = False
    leaving: tuple[int, ...] = ()

    @property
    def keeps_all(self) -> bool:
        return not self.new_leaves and not self.leaving


KEEP_ALL = Verdict()

Tiebreak = Callable[[catalog.Row], tuple] | None


def ranked_copies(
    new: catalog.Row, old: Sequence[catalog.Row], tiebreak: Tiebreak = None
) -> list[catalog.Row]:
    """All copies best first; between equals, the one already there wins."""
    old_ids = {r.id for r in old}

    def key(r: catalog.Row) -> tuple:
        extra = tiebreak(r) if tiebreak else ()
        return (*extra, r.id in old_ids)

    return quality.rank([new, *old], key)


def best_verdict(
    new: catalog.Row,
    old: Sequence[catalog.Row],
    policy: str,
    tiebreak: Tiebreak = None,
) -> Verdict:
    """`best`: the library keeps the better copy (both kinds with best-of-each).

    Only pairs involving the new copy are acted on: when the new copy stays,
    the old copies the policy does not keep leave; when it does not, the old
    copies are left as they are.
    """
    kept = quality.keepers(ranked_copies(new, old, tiebreak), policy)
    if new.id not in kept:
        return Verdict(new_leaves=True)
    return Verdict(leaving=tuple(r.id for r in old if r.id not in kept))


def library_has_as_good(
    new: catalog.Row,
    old: Sequence[catalog.Row],
    policy: str,
    tiebreak: Tiebreak = None,
) -> bool:
    """`skip`: whether the library already holds a copy at least as good."""
    return best_verdict(new, old, policy, tiebreak).new_leaves


def strong(matches: Iterable[Match], settings: MatchSettings) -> list[Match]:
    return [m for m in matches if m.similarity >= settings.auto_threshold]
