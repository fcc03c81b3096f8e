"""Library mode of the mirror: which copy of each recording each view shows.

Everything here is pure: the input is one :class:`Track` per library item
(its place under the mirror's path template, its folder, its format and
quality, its recording), the output the links each view should hold.
``mirror.library`` reads the library; ``mirror.plan`` turns the views into
steps.

The rules (the track-level merge):

- An item's *entry* is its path under the template cut at the depth
  (``$albumartist/$album`` at depth 2): an album of the views.
- Entries whose names differ are one album when they share most of their
  recordings (:data:`JOIN_SMALLER` of the smaller one's and
  :data:`JOIN_LARGER` of the larger one's): the FLAC rip "Metropole" and
  the MP3 download "[2014] Metropole", also when one of them lacks tracks;
  a single or a compilation sharing one song does not join an album. The
  album is named after the entry holding its best copy.
- Each view shows every recording of an album once, from its best copy
  for that view (``quality.shown_copy``): high the best copy, low the best
  lossy copy, else the best lossless one. Items without a recording (not
  fingerprinted yet) are one recording with a track of the same name in
  the same entry, else a recording of their own.
- A source folder is linked whole only when it holds exactly the album's
  choice for that view (no other library item in it or below it);
  otherwise the album is a real folder of per-track links, named by the
  template.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .. import quality
from .model import DesiredViews

# How much of two entries' recordings must be shared for them to be one album.
JOIN_SMALLER = 0.8
JOIN_LARGER = 0.5

TrackNamer = Callable[["Track"], str]
Ranker = Callable[[Sequence["Track"]], list["Track"]]


@dataclass(slots=True)
class Track:
    """One library item as the mirror sees it.

    ``folder`` is the folder holding its file; ``entry`` the template's
    path cut at the depth (folders joined with ``os.sep``); ``recording``
    its recording id, None when it has none yet. ``source`` is whatever the
    caller needs to name the track's file when it is linked on its own.
    ``lossless`` and ``likely_source`` are the lossless check's verdict and
    source code, which the keeper (`quality`) ranks by, as everywhere.
    """

    id: int
    path: str
    folder: str
    format: str
    bitrate: int
    bitdepth: int
    samplerate: int
    entry: str
    recording: int | None = None
    source: object = None
    lossless: str = ""
    likely_source: str = ""


@dataclass
class Album:
    """One album of the views: its name, its tracks and the entries joined."""

    rel: str
    tracks: list[Track]
    names: list[str] = field(default_factory=list)


def join_entries(tracks: Iterable[Track]) -> list[Album]:
    """Tracks by entry; entries sharing most of their recordings joined.

    Returns the albums sorted by name; ``names`` lists the entries of each.
    """
    by_entry: dict[str, list[Track]] = defaultdict(list)
    first: dict[int, str] = {}
    holders: dict[int, set[str]] = defaultdict(set)
    for track in tracks:
        entry = track.entry
        by_entry[entry].append(track)
        recording = track.recording
        if recording is not None:
            seen = first.setdefault(recording, entry)
            if seen != entry:
                holders[recording].update((seen, entry))
    shared: Counter[tuple[str, str]] = Counter()
    for entries in holders.values():
        ordered = sorted(entries)
        for n, a in enumerate(ordered):
            for b in ordered[n + 1 :]:
                shared[(a, b)] += 1
    recordings = {
        entry: len({t.recording for t in by_entry[entry] if t.recording is not None})
        for pair in shared
        for entry in pair
    }
    parent = {entry: entry for entry in by_entry}

    def root(entry: str) -> str:
        while parent[entry] != entry:
            parent[entry] = parent[parent[entry]]
            entry = parent[entry]
        return entry

    for (a, b), count in shared.items():
        if joined(count, recordings[a], recordings[b]):
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for entry in by_entry:
        groups[root(entry)].append(entry)
    albums = []
    for entries in groups.values():
        if len(entries) == 1:
            rel = entries[0]
        else:
            rel = min(entries, key=lambda e: (_best_key(by_entry[e]), e))
        members = [t for e in entries for t in by_entry[e]]
        albums.append(Album(rel, members, sorted(entries)))
    albums.sort(key=lambda album: album.rel)
    return albums


def joined(shared: int, recordings_a: int, recordings_b: int) -> bool:
    """Whether two entries holding these many recordings, ``shared`` of
    them in both, are one album.
    """
    small, large = sorted((recordings_a, recordings_b))
    return shared >= JOIN_SMALLER * small and shared >= JOIN_LARGER * large


def _best_key(tracks: Sequence[Track]) -> tuple:
    """Sorts the entry holding the best copy first."""
    best = max(quality.quality_key(t) for t in tracks)
    return tuple(-v for v in best)


def choose_copies(
    album: Album, rank: Ranker, track_name: TrackNamer
) -> tuple[list[Track], list[Track]]:
    """The tracks the high and the low view show: one per recording."""
    tracks = album.tracks
    distinct = {t.recording for t in tracks}
    if len(distinct) == len(tracks) and None not in distinct:
        return tracks, tracks  # one copy of each recording: all shown
    by_recording: dict[object, list[Track]] = {}
    named: dict[tuple[str, str], object] | None = None
    for track in album.tracks:
        key: object = track.recording
        if key is None:
            if named is None:
                named = _recordings_by_name(album, track_name)
            key = named.get((track.entry, _stem(track_name(track))), ("item", track.id))
        copies = by_recording.get(key)
        if copies is None:
            by_recording[key] = [track]
        else:
            copies.append(track)
    if len(by_recording) == len(album.tracks):  # one copy of each: all shown
        return album.tracks, album.tracks
    high, low = [], []
    for copies in by_recording.values():
        if len(copies) == 1:
            high.append(copies[0])
            low.append(copies[0])
            continue
        ranked = rank(copies)
        high.append(quality.shown_copy(ranked, "high"))
        low.append(quality.shown_copy(ranked, "low"))
    return high, low


def _recordings_by_name(
    album: Album, track_name: TrackNamer
) -> dict[tuple[str, str], object]:
    """Within each entry, the recording (or the first item) of each track name."""
    found: dict[tuple[str, str], object] = {}
    for track in sorted(album.tracks, key=lambda t: (t.recording is None, t.id)):
        key = (track.entry, _stem(track_name(track)))
        recording = track.recording
        found.setdefault(key, ("item", track.id) if recording is None else recording)
    return found


def _stem(name: str) -> str:
    return os.path.splitext(name)[0]


class FolderCensus:
    """Where the library's items are: which folders may be linked whole.

    Built from the folder of every item of the library (not only those a
    query selects, nor only those linked), so a folder link never shows an
    item the view should not.
    """

    def __init__(self, folders: Iterable[str]) -> None:
        self.direct: Counter[str] = Counter(folders)
        self.above: set[str] = set()
        for folder in self.direct:
            parent = os.path.dirname(folder)
            while parent not in self.above and parent != folder:
                self.above.add(parent)
                folder, parent = parent, os.path.dirname(parent)

    @classmethod
    def of_counts(cls, direct: dict[str, int]) -> FolderCensus:
        """The census of folders holding these many items each."""
        return cls(Counter(direct))  # counted from a mapping: its counts

    def holds_only(self, folder: str, count: int) -> bool:
        """Whether ``folder`` holds exactly ``count`` items and none below."""
        return self.direct.get(folder) == count and folder not in self.above


def album_links(
    rel: str, shown: Sequence[Track], census: FolderCensus, track_name: TrackNamer
) -> dict[str, Track | str]:
    """The links that show one album in one view: ``relpath -> target``.

    One link to a folder (the value is its path) when the folder holds
    exactly the tracks shown; otherwise one link per track (the value is
    the track) inside a real folder named after the album, the file named by
    the template. Two tracks given one name are told apart as beets does,
    with ``.1``, ``.2`` before the extension.
    """
    folders = {t.folder for t in shown}
    if len(folders) == 1:
        folder = next(iter(folders))
        if census.holds_only(folder, len(shown)):
            return {rel: folder}
    links: dict[str, Track | str] = {}
    named = sorted((track_name(t), t.path, t) for t in shown)
    for name, _, track in named:
        path = os.path.join(rel, name)
        stem, ext = os.path.splitext(path)
        number = 0
        while path in links:
            number += 1
            path = f"{stem}.{number}{ext}"
        links[path] = track
    return links


@dataclass
class LibraryViews:
    """What the views should hold, and the item each link shows."""

    desired: DesiredViews
    items: dict[str, dict[str, int]]
    albums: int = 0


def desired_views(
    albums: Iterable[Album],
    census: FolderCensus,
    track_name: TrackNamer,
    rank: Ranker,
) -> LibraryViews:
    """What the high and the low view should hold, album by album."""
    views = LibraryViews(DesiredViews({}, {}), {"high": {}, "low": {}})
    for album in albums:
        views.albums += 1
        high, low = choose_copies(album, rank, track_name)
        for name, shown in (("high", high), ("low", low)):
            targets = getattr(views.desired, name)
            items = views.items[name]
            for path, shows in album_links(
                album.rel, shown, census, track_name
            ).items():
                if isinstance(shows, str):
                    targets[path] = shows
                    items[path] = shown[0].id
                else:
                    targets[path] = shows.path
                    items[path] = shows.id
    return views
