"""Library mode of the mirror: from items to albums, and which copy each view shows.

Everything here is pure: the input is one :class:`Track` per library item
(its name under the mirror's path template, its folder, its quality), the
output the links each view should hold. ``mirror_library`` reads the
library and the fingerprints; ``mirror_plan`` turns the views into steps.

The rules:

- An item's *entry* is its path under the template cut at the depth
  (``$albumartist/$album`` at depth 2). Items with the same entry meet, so
  the FLAC and the MP3 copy of one album are one entry when their tags
  agree.
- Inside an entry, a *copy* is the tracks of one format in one beets album
  (or, for singletons, in one folder): the FLAC rip, the MP3 download.
- Copies whose names differ are merged into one album when their sounds
  say they hold the same recordings: at least 80 % of the tracks of the
  larger copy must have a copy in the other. A view shows one copy of an
  album, so a looser rule would hide tracks: a single would swallow the
  album it comes from, half an album the other half. A deluxe edition with
  two bonus tracks still joins its album.
- The high view shows the best copy (:func:`quality.quality_key`), the low
  view the best lossy one, else the best copy. The album is named after
  its best copy.
- A copy is linked as one folder when its tracks fill a folder alone (no
  other library item in it or below it); otherwise the album becomes a real
  folder of per-track links.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..matching.candidates import MAX_POSTINGS
from ..quality import is_lossless
from .plan import DesiredViews

# Sketch keys are stored smallest hash first, so the first SKETCH_KEYS of
# them are a smaller bottom-k sketch of the same track: fewer keys make
# finding the shared ones cheaper, and copies still stand out. Copies of one
# recording share 7 to 48 of their 48 keys (three quarters as many of 36),
# different songs none; a pair sharing fewer than MIN_SHARED_KEYS is not
# worth verifying. (A multiple of 3, so the keys are whole base64 groups.)
SKETCH_KEYS = 36
MIN_SHARED_KEYS = 2
# The share of the larger copy's tracks the other copy must hold to join it.
MERGE_COVERAGE = 0.8
# How many track pairs of two copies are checked on their frames before the
# copies are merged: enough to rule out chance, cheap on a large library.
VERIFIED_PAIRS = 3


@dataclass(slots=True)
class Track:
    """One library item as the mirror sees it.

    ``folder`` is the folder holding its file; ``entry`` the template's
    path cut at the depth (folders joined with ``os.sep``, no extension);
    ``whole`` says the template ends there, so the track is its own entry;
    ``ext`` is the file's extension with its dot. ``source`` is whatever
    the caller needs to name the track's file when the copy is linked
    track by track.
    """

    id: int
    path: str
    folder: str
    album_id: int | None
    format: str
    quality: tuple[int, ...]
    length: float
    entry: str
    whole: bool
    ext: str
    source: object = None


@dataclass
class Copy:
    """The tracks of one entry in one format and one album (or folder)."""

    entry: str
    tracks: list[Track]

    @cached_property
    def folder(self) -> str | None:
        """The one folder holding every track, or None when they are spread."""
        folders = {t.folder for t in self.tracks}
        return folders.pop() if len(folders) == 1 else None

    @cached_property
    def quality(self) -> tuple[int, ...]:
        """The median track's quality key: one odd track does not decide."""
        keys = sorted(t.quality for t in self.tracks)
        return keys[(len(keys) - 1) // 2]

    @property
    def lossless(self) -> bool:
        return is_lossless(self.tracks[0].format)

    @cached_property
    def sort_path(self) -> str:
        return min(t.path for t in self.tracks)


@dataclass
class Album:
    """One album of the views: its name and its copies, best first."""

    rel: str
    copies: list[Copy]
    names: list[str] = field(default_factory=list)

    @property
    def high(self) -> Copy:
        return self.copies[0]

    @property
    def low(self) -> Copy:
        return next((c for c in self.copies if not c.lossless), self.copies[0])


def group_copies(tracks: Iterable[Track]) -> dict[str, list[Copy]]:
    """Tracks by entry, then by copy; each entry's copies best first."""
    found: dict[str, dict[tuple, list[Track]]] = defaultdict(dict)
    for track in tracks:
        if track.whole:
            key: tuple = ("track", track.id)
        elif track.album_id is not None:
            key = ("album", track.album_id, track.format)
        else:
            key = ("folder", track.folder, track.format)
        found[track.entry].setdefault(key, []).append(track)
    return {
        entry: rank_copies(Copy(entry, members) for members in copies.values())
        for entry, copies in found.items()
    }


def rank_copies(copies: Iterable[Copy]) -> list[Copy]:
    """Best first: quality, then the more complete copy, then the path."""
    ordered = sorted(copies, key=lambda c: c.sort_path)
    return sorted(ordered, key=lambda c: (c.quality, len(c.tracks)), reverse=True)


@dataclass(frozen=True)
class SketchPostings:
    """The sketch keys of many tracks, flattened: ``keys[i]`` is one key of
    ``tracks[owners[i]]``; ``sketched`` tracks have a sketch.
    """

    tracks: Sequence[Track]
    owners: np.ndarray
    keys: np.ndarray
    sketched: int = 0


def shared_key_pairs(
    postings: SketchPostings, length_tolerance: float
) -> dict[tuple[int, int], int]:
    """Track pairs of different entries whose sketches share keys.

    Returns ``(id, id) -> number of shared keys`` for pairs sharing at
    least :data:`MIN_SHARED_KEYS` whose lengths agree. Works on sorted key
    arrays, so the cost follows the number of shared keys, not the square
    of the library; keys shared by more than ``MAX_POSTINGS`` tracks say
    nothing and are skipped, as in the block index.
    """
    tracks = postings.tracks
    if len(postings.keys) == 0:
        return {}
    entry_names = {t.entry: n for n, t in enumerate(tracks)}
    entry_of = np.fromiter(
        (entry_names[t.entry] for t in tracks), np.int64, len(tracks)
    )
    # One sort of (key, owner) packed in 64 bits, then the runs of equal keys.
    packed = (
        postings.keys.astype(np.uint64) << np.uint64(32)
    ) | postings.owners.astype(np.uint64)
    packed.sort()
    keys = (packed >> np.uint64(32)).astype(np.uint32)
    owners = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, len(keys)))
    df = np.repeat(counts, counts)
    useful = (df >= 2) & (df <= MAX_POSTINGS)
    keys, owners = keys[useful], owners[useful]
    a_parts, b_parts = [], []
    for d in range(1, MAX_POSTINGS):
        if d >= len(keys):
            break
        same = np.nonzero(keys[:-d] == keys[d:])[0]
        if len(same) == 0:
            break
        a, b = owners[same], owners[same + d]
        apart = entry_of[a] != entry_of[b]
        a_parts.append(np.minimum(a[apart], b[apart]))
        b_parts.append(np.maximum(a[apart], b[apart]))
    if not a_parts:
        return {}
    n = len(tracks)
    codes, shared = np.unique(
        np.concatenate(a_parts) * n + np.concatenate(b_parts), return_counts=True
    )
    strong = shared >= MIN_SHARED_KEYS
    pairs = {}
    for code, count in zip(
        codes[strong].tolist(), shared[strong].tolist(), strict=True
    ):
        ta, tb = tracks[code // n], tracks[code % n]
        if ta.length and tb.length and abs(ta.length - tb.length) > length_tolerance:
            continue
        pairs[(ta.id, tb.id)] = count
    return pairs


@dataclass(frozen=True)
class CopyPair:
    """Two copies of different entries that may hold the same recordings,
    with the track pairs to check on their frames, most promising first.
    """

    first: Copy
    second: Copy
    checks: list[tuple[int, int]]
    strength: int


def candidate_copies(
    copies_by_entry: dict[str, list[Copy]], pairs: dict[tuple[int, int], int]
) -> list[CopyPair]:
    """Copy pairs sharing most tracks (:data:`MERGE_COVERAGE` of the larger
    copy), strongest first.
    """
    copy_of: dict[int, Copy] = {}
    for copies in copies_by_entry.values():
        for copy in copies:
            for track in copy.tracks:
                copy_of[track.id] = copy
    links: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for (a, b), shared in pairs.items():
        ca, cb = copy_of.get(a), copy_of.get(b)
        if ca is None or cb is None or ca.entry == cb.entry:
            continue
        if (ca.sort_path, ca.entry) > (cb.sort_path, cb.entry):
            ca, cb, a, b = cb, ca, b, a
        links[(id(ca), id(cb))].append((shared, a, b))
    by_id = {id(c): c for c in copy_of.values()}
    found = []
    for (ia, ib), found_links in links.items():
        first, second = by_id[ia], by_id[ib]
        covered = min(
            len({a for _, a, _ in found_links}), len({b for _, _, b in found_links})
        )
        if covered < MERGE_COVERAGE * max(len(first.tracks), len(second.tracks)):
            continue
        found_links.sort(key=lambda link: (-link[0], link[1], link[2]))
        checks, used = [], set()
        for _, a, b in found_links:
            if a in used or b in used:
                continue
            checks.append((a, b))
            used.update((a, b))
            if len(checks) == VERIFIED_PAIRS:
                break
        found.append(CopyPair(first, second, checks, covered))
    found.sort(key=lambda p: (-p.strength, p.first.sort_path, p.second.sort_path))
    return found


def merge_albums(
    copies_by_entry: dict[str, list[Copy]],
    candidates: Iterable[CopyPair],
    same_recordings: Callable[[CopyPair], bool],
) -> tuple[list[Album], int]:
    """Join the entries whose copies hold the same recordings; name each
    album after its best copy.

    ``same_recordings`` checks a candidate on the fingerprints; it is not
    asked about entries already joined. Returns the albums, sorted by name,
    and how many entries were merged into another.
    """
    parent = {entry: entry for entry in copies_by_entry}

    def root(entry: str) -> str:
        while parent[entry] != entry:
            parent[entry] = parent[parent[entry]]
            entry = parent[entry]
        return entry

    merged = 0
    for pair in candidates:
        ra, rb = root(pair.first.entry), root(pair.second.entry)
        if ra == rb or not same_recordings(pair):
            continue
        parent[max(ra, rb)] = min(ra, rb)
        merged += 1
    groups: dict[str, list[str]] = defaultdict(list)
    for entry in copies_by_entry:
        groups[root(entry)].append(entry)
    albums: dict[str, Album] = {}
    for entries in groups.values():
        copies = rank_copies(c for e in entries for c in copies_by_entry[e])
        rel = copies[0].entry
        albums[rel] = Album(rel, copies, sorted(entries))
    return [albums[rel] for rel in sorted(albums)], merged


class FolderCensus:
    """Where the library's items are: which folders a copy may be linked as.

    Built from the paths of every item of the library (not only those a
    query selects), so a folder link never shows an item the copy lacks.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self.direct: Counter[str] = Counter(os.path.dirname(p) for p in paths)
        self.above: set[str] = set()
        for folder in self.direct:
            parent = os.path.dirname(folder)
            while parent not in self.above and parent != folder:
                self.above.add(parent)
                folder, parent = parent, os.path.dirname(parent)

    def holds_only(self, folder: str, count: int) -> bool:
        """Whether ``folder`` holds exactly ``count`` items and none below."""
        return self.direct.get(folder) == count and folder not in self.above


def copy_links(
    album: Album,
    copy: Copy,
    census: FolderCensus,
    track_name: Callable[[Track], str],
) -> dict[str, str]:
    """The links that show one copy of an album: ``relpath -> target``.

    One link to the copy's folder when the folder holds the copy alone,
    otherwise one link per track inside a real folder named after the
    album (``track_name`` gives a track's file name, extension included).
    A track that is its own entry is linked as a file. Two tracks given one
    name are told apart as beets does, with ``.1``, ``.2`` before the
    extension.
    """
    folder = copy.folder
    if (
        folder is not None
        and not any(t.whole for t in copy.tracks)
        and census.holds_only(folder, len(copy.tracks))
    ):
        return {album.rel: folder}
    links: dict[str, str] = {}
    for track in sorted(copy.tracks, key=lambda t: (track_name(t), t.path)):
        if track.whole:
            rel = album.rel + track.ext.lower()
        else:
            rel = os.path.join(album.rel, track_name(track))
        stem, ext = os.path.splitext(rel)
        number = 0
        while rel in links:
            number += 1
            rel = f"{stem}.{number}{ext}"
        links[rel] = track.path
    return links


def desired_views(
    albums: Iterable[Album],
    census: FolderCensus,
    track_name: Callable[[Track], str],
) -> DesiredViews:
    """What the high and the low view should hold, album by album."""
    high: dict[str, str] = {}
    low: dict[str, str] = {}
    for album in albums:
        high.update(copy_links(album, album.high, census, track_name))
        low.update(copy_links(album, album.low, census, track_name))
    return DesiredViews(high=high, low=low)
