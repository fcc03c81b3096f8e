"""Build a messy synthetic music library with known duplicates, and its manifest.

Each song of the corpus is rendered by `synthmusic` and written by ffmpeg in
many forms: the 16-bit FLAC "album" master, lossy and lossless transcodes, a
copy with leading silence, a quiet copy, a trimmed copy and a remaster (all
the same recording), and different recordings made from the same material (a
radio edit, an extended mix, an intro cut, an instrumental and a guitar stem).
Once per corpus come silent tracks, a steady tone and broken files. Files are
spread over folders the way a library grown over years looks, with tags that
disagree between copies, so only the sound can tell what is what.

`manifest.json` records every file's recording id: two files are true
duplicates if and only if they share a recording. A corpus is reused when its
manifest says it was built with the same parameters and `GENERATOR_VERSION`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

import cases
import numpy as np
import synthmusic

GENERATOR_VERSION = "1"
MANIFEST_NAME = "manifest.json"
ALBUM_SECONDS = 48.0
SR = 44100
INTRO_CUT_SECONDS = 20.0
EXTRA_SECONDS = 30.0


@dataclass(frozen=True)
class VariantSpec:
    """How one variant of a song is made, named, tagged and described.

    `source` is the rendering it is encoded from (album, radio, extended,
    instrumental or stem), `recording` the suffix of its recording id, `path`
    a template for its place in the library, `filters` an ffmpeg audio filter
    chain and `offset` where in the recording the file starts, in seconds.
    `speed` plays the source that much faster, pitch and tempo together (a
    turntable or tape running fast or slow).
    """

    name: str
    source: str
    recording: str
    ext: str
    codec: str
    args: tuple[str, ...]
    path: str
    tag_style: str
    filters: str = ""
    lossless: bool = False
    bitrate_kbps: int | None = None
    sample_rate: int = SR
    bit_depth: int | None = None
    offset: float = 0.0
    speed: float = 1.0


_FLAC16 = ("-c:a", "flac", "-sample_fmt", "s16")
# faster encoder settings (LAME -q 7, the fast AAC coder) halve the build time
_MP3 = ("-c:a", "libmp3lame", "-compression_level", "7")
_AAC = ("-c:a", "aac", "-aac_coder", "fast")
# old MP3s lack the LAME/Xing header, so decoders keep the encoder's delay:
# 1105 samples of silence in front, a sub-frame shift for Chromaprint
_NO_XING = ("-write_xing", "0")
_LAME_DELAY = 1105 / SR
# a gentle remaster: more bass and air, some compression, a limiter
_REMASTER = (
    "equalizer=f=100:t=q:w=0.8:g=2.5,equalizer=f=10000:t=q:w=0.7:g=4,"
    "acompressor=threshold=-16dB:ratio=2.5:attack=10:release=150:makeup=2,"
    "alimiter=limit=0.95:level=false"
)

VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec(
        "master", "album", "album", "flac", "flac", _FLAC16,
        "flac/{artist}/{album}/{track:02d} {title}.flac", "clean",
        lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "mp3-64", "album", "album", "mp3", "mp3",
        (*_MP3, "-b:a", "64k", *_NO_XING),
        "misc/old phone/{artist_lower} - {title_lower}.mp3", "lower",
        bitrate_kbps=64, offset=-_LAME_DELAY,
    ),
    VariantSpec(
        "mp3-128", "album", "album", "mp3", "mp3",
        (*_MP3, "-b:a", "128k", *_NO_XING),
        "misc/{artist} - {title}.mp3", "no-album", bitrate_kbps=128,
        offset=-_LAME_DELAY,
    ),
    VariantSpec(
        "mp3-320", "album", "album", "mp3", "mp3", (*_MP3, "-b:a", "320k"),
        "mp3/{artist}/[{year}] {album}/{track:02d} - {title_lower}.mp3",
        "remastered-album", bitrate_kbps=320,
    ),
    VariantSpec(
        "mp3-v0", "album", "album", "mp3", "mp3", (*_MP3, "-q:a", "0"),
        "mp3/{artist}/[{year}] {album} (V0)/{track:02d}. {title}.mp3",
        "upper-artist", bitrate_kbps=245,
    ),
    VariantSpec(
        "mp3-v6", "album", "album", "mp3", "mp3", (*_MP3, "-q:a", "6"),
        "misc/car/{track:02d} {title}.mp3", "title-has-artist", bitrate_kbps=115,
    ),
    VariantSpec(
        "aac-128", "album", "album", "m4a", "aac", (*_AAC, "-b:a", "128k"),
        "itunes/{artist}/{album}/{track:02d} {title}.m4a", "the-suffix",
        bitrate_kbps=128,
    ),
    VariantSpec(
        "opus-96", "album", "album", "opus", "opus",
        ("-c:a", "libopus", "-b:a", "96k", "-ar", "48000"),
        "opus/{artist}/{album}/{track:02d} - {title}.opus", "deluxe",
        bitrate_kbps=96, sample_rate=48000,
    ),
    VariantSpec(
        "vorbis-q3", "album", "album", "ogg", "vorbis",
        ("-c:a", "libvorbis", "-q:a", "3"),
        "ogg/{artist} - {album} - {track:02d} - {title}.ogg", "lower",
        bitrate_kbps=112,
    ),
    VariantSpec(
        "alac", "album", "album", "m4a", "alac",
        ("-c:a", "alac", "-sample_fmt", "s16p"),
        "itunes/{artist}/{album}/{track:02d} {title} 1.m4a", "track-total",
        lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "flac-24-96", "album", "album", "flac", "flac",
        ("-c:a", "flac", "-sample_fmt", "s32", "-ar", "96000"),
        "flac/{artist}/{album} [24-96]/{track:02d} {title}.flac", "hires",
        lossless=True, sample_rate=96000, bit_depth=24,
    ),
    VariantSpec(
        "mp3-lead-silence", "album", "album", "mp3", "mp3",
        (*_MP3, "-b:a", "192k"),
        "misc/vinyl rips/{artist} - {title} (side A).mp3", "no-album",
        filters="adelay=2000:all=1", bitrate_kbps=192, offset=-2.0,
    ),
    VariantSpec(
        "mp3-minus9db", "album", "album", "mp3", "mp3", (*_MP3, "-b:a", "192k"),
        "misc/quiet/{track:02d} {artist} - {title}.mp3", "clean",
        filters="volume=-9dB", bitrate_kbps=192,
    ),
    VariantSpec(
        "aac-trim-start", "album", "album", "m4a", "aac",
        (*_AAC, "-b:a", "160k"),
        "misc/m4a/{title}.m4a", "title-only",
        filters="atrim=start=0.7,asetpts=PTS-STARTPTS", bitrate_kbps=160,
        offset=0.7,
    ),
    VariantSpec(
        "remaster", "album", "album", "flac", "flac", _FLAC16,
        "flac/{artist}/{album} (Remastered)/{track:02d} {title} (Remastered).flac",
        "remastered", filters=_REMASTER, lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "radio-edit", "radio", "radio", "flac", "flac", _FLAC16,
        "flac/{artist}/Singles/{title} (Radio Edit).flac", "radio",
        lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "radio-edit-mp3", "radio", "radio", "mp3", "mp3", (*_MP3, "-b:a", "256k"),
        "mp3/{artist}/Singles/{title_lower} (radio edit).mp3", "radio-lower",
        bitrate_kbps=256,
    ),
    VariantSpec(
        "extended", "extended", "extended", "flac", "flac", _FLAC16,
        "flac/{artist}/Singles/{title} (Extended Mix).flac", "extended",
        lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "intro-cut", "album", "introcut", "mp3", "mp3", (*_MP3, "-b:a", "192k"),
        "misc/broken/{artist} - {title}.mp3", "clean",
        filters=f"atrim=start={INTRO_CUT_SECONDS:g},asetpts=PTS-STARTPTS,"
        "afade=t=in:d=0.02",
        bitrate_kbps=192, offset=INTRO_CUT_SECONDS,
    ),
    VariantSpec(
        "instrumental", "instrumental", "instrumental", "flac", "flac", _FLAC16,
        "flac/{artist}/{album} (Instrumentals)/{track:02d} {title} (Instrumental).flac",
        "instrumental", lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "guitar-stem", "stem", "stem", "flac", "flac", _FLAC16,
        "stems/{artist}/{title} - guitar.flac", "stem", lossless=True, bit_depth=16,
    ),
)  # fmt: skip
VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)

_MP3_192 = (*_MP3, "-b:a", "192k")
# two semitones up, tempo kept: the pitch shifted by resampling, then the
# tempo brought back
_KEY_UP_2 = (
    f"asetrate={round(SR * 2 ** (2 / 12))},aresample={SR},atempo={2 ** (-2 / 12):.6f}"
)

# The whole-recording cases (see `cases.py`): they need songs longer than
# fpcalc's two minutes, so they are not part of the default corpus.
CASE_VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec(
        "pregap-8s", "pregap", "album", "mp3", "mp3", _MP3_192,
        "vinyl/{artist} - {title} (needle drop).mp3", "no-album",
        bitrate_kbps=192, offset=-cases.PREGAP_SECONDS,
    ),
    VariantSpec(
        "speed+0.3", "album", "album", "mp3", "mp3", _MP3_192,
        "vinyl/{artist}/{album}/A{track} {title}.mp3", "clean",
        bitrate_kbps=192, speed=1.003,
    ),
    VariantSpec(
        "speed-0.8", "album", "album", "mp3", "mp3", _MP3_192,
        "tape/{artist} - {album} - {track:02d} {title}.mp3", "lower",
        bitrate_kbps=192, speed=0.992,
    ),
    VariantSpec(
        "speed+2", "album", "album", "flac", "flac", _FLAC16,
        "vinyl/{artist}/{album} (45 at 33)/{track:02d} {title}.flac", "clean",
        lossless=True, bit_depth=16, speed=1.02,
    ),
    VariantSpec(
        "speed-2", "album", "album", "flac", "flac", _FLAC16,
        "tape/{artist}/{album} (slow deck)/{track:02d} {title}.flac", "clean",
        lossless=True, bit_depth=16, speed=0.98,
    ),
    VariantSpec(
        "dj-mix", "dj", "album", "mp3", "mp3", (*_MP3, "-b:a", "320k"),
        "mixes/{artist} - {title} (mixed).mp3", "clean", bitrate_kbps=320,
    ),
    VariantSpec(
        "medley", "medley", "medley", "flac", "flac", _FLAC16,
        "flac/{artist}/{album} (Live Medleys)/{track:02d} {title} (Medley).flac",
        "clean", lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "alt-ending", "altend", "altend", "flac", "flac", _FLAC16,
        "flac/{artist}/{album} (Deluxe)/{track:02d} {title} (Alternate Ending).flac",
        "deluxe", lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "extended-outro", "extoutro", "extoutro", "flac", "flac", _FLAC16,
        "flac/{artist}/{album} (Deluxe)/{track:02d} {title} (Long Outro).flac",
        "deluxe", lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "key+2", "album", "key", "flac", "flac", _FLAC16,
        "flac/{artist}/Karaoke/{title} (+2).flac", "clean",
        filters=_KEY_UP_2, lossless=True, bit_depth=16,
    ),
    VariantSpec(
        "live", "live", "live", "flac", "flac", _FLAC16,
        "flac/{artist}/Live/{track:02d} {title} (Live).flac", "clean",
        lossless=True, bit_depth=16,
    ),
)  # fmt: skip
CASE_NAMES: tuple[str, ...] = tuple(v.name for v in CASE_VARIANTS)
_ALL_VARIANTS = VARIANTS + CASE_VARIANTS
EXTRAS: tuple[str, ...] = (
    "silence-flac",
    "silence-mp3",
    "tone-440",
    "bad-truncated-mp3",
    "bad-empty-flac",
    "bad-text-mp3",
)


@dataclass(frozen=True)
class Entry:
    """One file of the corpus and the truth about it.

    `recording` is None for files that are not audio at all; `song` is None
    for files not made from a song (silence, tone, broken files). `format` is
    the file extension, `bitrate_kbps` the nominal rate of lossy files.
    `offset` is where in the recording the file starts, in seconds (-2 for two
    seconds of added silence); `duration` is the expected length in seconds.
    `tags` are as given to ffmpeg's -metadata (artist, album_artist, album,
    title, track, date), missing keys were not written.
    """

    relpath: str
    song: int | None
    recording: str | None
    variant: str
    format: str
    codec: str | None
    lossless: bool
    bitrate_kbps: int | None
    sample_rate: int | None
    bit_depth: int | None
    duration: float | None
    offset: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SongInfo:
    """A song's names and musical facts, for reports and benchmarks.

    `seed` is the `synthmusic` seed; `edit_point` is where (in seconds) the
    radio edit leaves the album version. The extended mix follows the album
    version up to its outro, one section later.
    """

    song: int
    seed: int
    artist: str
    album: str
    title: str
    year: int
    track: int
    key: str
    mode: str
    bpm: float
    album_seconds: float
    radio_seconds: float
    extended_seconds: float
    edit_point: float


@dataclass
class Manifest:
    """The files of a corpus, where it lives and how it was built."""

    root: Path
    params: dict[str, object]
    songs: list[SongInfo]
    entries: list[Entry]

    def path(self, entry: Entry) -> Path:
        """The absolute path of an entry's file."""
        return self.root / entry.relpath

    def entry(self, relpath: str) -> Entry:
        """The entry of a file, by its path relative to the corpus root."""
        for e in self.entries:
            if e.relpath == relpath:
                return e
        raise KeyError(relpath)

    def audio_entries(self) -> list[Entry]:
        """The entries that are decodable audio (everything but `bad/`)."""
        return [e for e in self.entries if e.recording is not None]

    def recordings(self) -> dict[str, list[Entry]]:
        """Audio entries grouped by recording id."""
        groups: dict[str, list[Entry]] = defaultdict(list)
        for e in self.audio_entries():
            groups[e.recording].append(e)  # type: ignore[index]
        return dict(groups)

    def to_json(self) -> dict[str, object]:
        """The manifest as written to `manifest.json`."""
        return {
            "generator_version": self.params["generator_version"],
            "params": self.params,
            "songs": [asdict(s) for s in self.songs],
            "entries": [asdict(e) for e in self.entries],
        }


def true_duplicate_pairs(manifest: Manifest) -> set[tuple[str, str]]:
    """Every pair of files holding the same recording, as sorted relpaths."""
    pairs: set[tuple[str, str]] = set()
    for entries in manifest.recordings().values():
        paths = sorted(e.relpath for e in entries)
        pairs.update(combinations(paths, 2))
    return pairs


def duplicate_groups(manifest: Manifest) -> list[list[str]]:
    """Recordings present in more than one file, as sorted lists of relpaths."""
    groups = [sorted(e.relpath for e in es) for es in manifest.recordings().values()]
    return sorted(g for g in groups if len(g) > 1)


def load_manifest(root: Path) -> Manifest:
    """Read `manifest.json` of the corpus in `root`."""
    root = Path(root)
    data = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    return Manifest(
        root=root,
        params=data["params"],
        songs=[SongInfo(**s) for s in data["songs"]],
        entries=[Entry(**e) for e in data["entries"]],
    )


def build_corpus(
    out_dir: Path,
    n_songs: int = 8,
    seed: int = 1,
    workers: int = 2,
    *,
    variants: Iterable[str] | None = None,
    extras: Iterable[str] | None = None,
    duration: float = ALBUM_SECONDS,
) -> Manifest:
    """Build (or reuse) a corpus of `n_songs` songs in `out_dir`.

    `variants` selects which song variants to write (the master is always
    written) and `extras` which once-per-corpus files; None means all of
    them (for variants: all but the whole-recording `CASE_VARIANTS`, which
    need a `duration` of at least `cases.MIN_SECONDS`). An existing corpus
    built with the same parameters and generator version is returned
    untouched; a different one is replaced, deleting only the files its
    manifest lists.
    """
    out_dir = Path(out_dir)
    if variants is None:
        chosen = VARIANT_NAMES
    else:
        chosen = _choose(variants, VARIANT_NAMES + CASE_NAMES, "variant")
    if set(chosen) & set(CASE_NAMES) and duration < cases.MIN_SECONDS:
        raise ValueError(
            f"the whole-recording cases need {cases.MIN_SECONDS:g} s songs"
        )
    if "master" not in chosen:
        chosen = ("master", *chosen)
    chosen_extras = _choose(extras, EXTRAS, "extra")
    params: dict[str, object] = {
        "generator_version": GENERATOR_VERSION,
        "n_songs": n_songs,
        "seed": seed,
        "duration": duration,
        "variants": list(chosen),
        "extras": list(chosen_extras),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir):
        cached = _reusable(out_dir, params)
        if cached is not None:
            return cached
        _remove_old(out_dir)
        songs = [
            _song_info(seed, i, names, duration)
            for i, names in enumerate(_names(seed, n_songs), start=1)
        ]
        specs = [v for v in _ALL_VARIANTS if v.name in chosen]
        jobs: list[tuple] = [("song", out_dir, s, specs) for s in songs]
        if chosen_extras:
            jobs.append(("extras", out_dir, songs[0] if songs else None, chosen_extras))
        entries: list[Entry] = []
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(workers) as pool:
                for result in pool.map(_run_job, jobs):
                    entries += result
        else:
            for job in jobs:
                entries += _run_job(job)
        manifest = Manifest(out_dir, params, songs, entries)
        tmp = out_dir / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps(manifest.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, out_dir / MANIFEST_NAME)
        return manifest


def _choose(
    wanted: Iterable[str] | None, known: tuple[str, ...], what: str
) -> tuple[str, ...]:
    """The known names in `wanted`, in canonical order; all when None."""
    if wanted is None:
        return known
    wanted = set(wanted)
    unknown = wanted - set(known)
    if unknown:
        raise ValueError(f"unknown {what}(s) {sorted(unknown)}; known: {known}")
    return tuple(k for k in known if k in wanted)


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock so that parallel builders do not collide."""
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _reusable(out_dir: Path, params: dict[str, object]) -> Manifest | None:
    """The existing manifest when it matches `params` and all files exist."""
    if not (out_dir / MANIFEST_NAME).exists():
        return None
    try:
        manifest = load_manifest(out_dir)
    except (ValueError, KeyError, TypeError):
        return None
    if manifest.params != params:
        return None
    if not all(manifest.path(e).exists() for e in manifest.entries):
        return None
    return manifest


def _remove_old(out_dir: Path) -> None:
    """Delete the files of a previous corpus (only those its manifest lists)."""
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return
    try:
        old = load_manifest(out_dir)
    except (ValueError, KeyError, TypeError):
        path.unlink()
        return
    path.unlink()
    dirs = set()
    for e in old.entries:
        f = old.path(e)
        f.unlink(missing_ok=True)
        dirs.update(p for p in f.parents if out_dir in p.parents)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


_FIRST = tuple(
    "Velvet Paper Electric Silent Golden Broken Neon Wild Hollow Crimson Lunar "
    "Copper Northern Quiet Glass Café Midnight Static Amber Ivory".split()
)
_SECOND = tuple(
    "Foxes Harbour Machines Orchard Pilots Tides Lanterns Owls Rivers Satellites "
    "Gardens Wolves Engines Sparrows Signals Ghosts".split()
)
_WORDS = tuple(
    "summer rain city light heart dream river fire stone night morning echo "
    "shadow road window ocean garden static gold letter winter wire paper "
    "mirror signal horizon avenue ember".split()
)
_KEYS = tuple("C C# D Eb E F F# G Ab A Bb B".split())


@dataclass(frozen=True)
class _Names:
    """What a song is called and where it was released."""

    artist: str
    album: str
    year: int
    title: str
    track: int


def _names(corpus_seed: int, n_songs: int) -> list[_Names]:
    """Distinct artist, album and title names; two songs per artist and album.

    Names are drawn in song order, so a bigger corpus keeps the names of a
    smaller one with the same seed.
    """
    rng = np.random.default_rng([corpus_seed, 7])
    artists: list[tuple[str, str, int]] = []
    titles: list[str] = []
    for song in range(n_songs):
        if song % 2 == 0:
            while True:
                artist = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
                if rng.random() < 0.5:
                    artist = "The " + artist
                if artist not in [a for a, _, _ in artists]:
                    break
            words = rng.choice(_WORDS, 2, replace=False)
            album = " ".join(str(w).capitalize() for w in words)
            artists.append((artist, album, int(rng.integers(1978, 2022))))
        while True:
            words = rng.choice(_WORDS, int(rng.integers(1, 4)), replace=False)
            title = " ".join(str(w) for w in words).capitalize()
            if title not in titles:
                break
        titles.append(title)
    return [
        _Names(*artists[i // 2], title=titles[i], track=i % 2 + 1)
        for i in range(n_songs)
    ]


def _song_info(corpus_seed: int, song: int, names: _Names, duration: float) -> SongInfo:
    """Names, album position and musical facts of one song of a corpus."""
    seed = corpus_seed * 10_000 + song
    plan = synthmusic.song_plan(seed)
    album_form = synthmusic.song_form(seed, duration, "album")
    radio = synthmusic.song_form(seed, duration, "radio")
    extended = synthmusic.song_form(seed, duration, "extended")
    radio_len = synthmusic.arrangement_seconds(seed, radio) + 1.0
    extended_len = synthmusic.arrangement_seconds(seed, extended) + 1.0
    if radio_len > duration - 8 or extended_len < duration + 10:
        raise ValueError(f"duration {duration} s is too short for the song edits")
    return SongInfo(
        song=song,
        seed=seed,
        artist=names.artist,
        album=names.album,
        title=names.title,
        year=names.year,
        track=names.track,
        key=_KEYS[plan.tonic],
        mode=plan.mode,
        bpm=round(plan.bpm, 2),
        album_seconds=duration,
        radio_seconds=round(radio_len, 4),
        extended_seconds=round(extended_len, 4),
        edit_point=round(synthmusic.section_starts(seed, album_form)[-2], 4),
    )


def _tags(info: SongInfo, style: str) -> dict[str, str]:
    """The tags of one copy of a song, in one of the library's messy styles."""
    artist, album, title = info.artist, info.album, info.title
    tags = {
        "artist": artist,
        "album_artist": artist,
        "album": album,
        "title": title,
        "track": str(info.track),
        "date": str(info.year),
    }
    if style == "lower":
        tags.update(artist=artist.lower(), album=album.lower(), title=title.lower())
    elif style == "no-album":
        for key in ("album", "album_artist", "track"):
            del tags[key]
    elif style == "remastered-album":
        tags.update(album=f"{album} (Remastered)", date=f"{info.year + 25}-03-01")
    elif style == "upper-artist":
        tags.update(artist=artist.upper(), album_artist=artist.upper())
    elif style == "title-has-artist":
        tags = {"title": f"{artist} - {title}", "track": str(info.track)}
    elif style == "the-suffix":
        bare = artist.removeprefix("The ")
        tags.update(artist=f"{bare}, The" if bare != artist else f"{artist} & Co.")
    elif style == "deluxe":
        tags.update(album=f"{album} [Deluxe Edition]", track=f"{info.track}/14")
    elif style == "track-total":
        tags.update(track=f"{info.track}/2", date=f"{info.year}-01-01")
    elif style == "hires":
        tags.update(album=f"{album} (24bit Hi-Res)", title=title.title())
    elif style == "title-only":
        tags = {"title": title}
    elif style == "remastered":
        tags.update(title=f"{title} - Remastered {info.year + 30}")
        tags.update(album=f"{album} (Remastered)", date=str(info.year + 30))
    elif style in ("radio", "radio-lower"):
        tags.update(title=f"{title} (Radio Edit)", album=f"{title} - Single")
        if style == "radio-lower":
            tags.update({k: v.lower() for k, v in tags.items()})
    elif style == "extended":
        tags.update(title=f"{title} (Extended Mix)", album=f"{title} - EP")
    elif style == "instrumental":
        tags.update(title=f"{title} (Instrumental)", album=f"{album} (Instrumentals)")
    elif style == "stem":
        tags = {"artist": artist, "title": f"{title} (guitar)"}
    return tags


def _run_job(job: tuple) -> list[Entry]:
    """Worker entry point: build one song, or the once-per-corpus files."""
    kind, out_dir, info, what = job
    if kind == "song":
        return _build_song(out_dir, info, what)
    return _build_extras(out_dir, info, what)


def _build_song(out_dir: Path, info: SongInfo, specs: list[VariantSpec]) -> list[Entry]:
    """Render one song's sources and encode each of its variants."""
    seed, duration = info.seed, info.album_seconds
    needed = {s.source for s in specs}
    sources: dict[str, np.ndarray] = {}
    if needed & {"album", "instrumental", "stem"}:
        stems = synthmusic.render_song_stems(seed, duration)
        sources["album"] = synthmusic.mix(stems)
        sources["instrumental"] = synthmusic.mix(stems, ("chords", "bass", "drums"))
        sources["stem"] = synthmusic.mix(stems, ("melody",))
    for edit in ("radio", "extended"):
        if edit in needed:
            sections = synthmusic.song_form(seed, duration, edit)
            sources[edit] = synthmusic.render_arrangement(seed, sections, tail=1.0)
    sources.update(_case_sources(seed, duration, sources.get("album"), needed))
    fields = {
        "artist": info.artist,
        "artist_lower": info.artist.lower(),
        "album": info.album,
        "title": info.title,
        "title_lower": info.title.lower(),
        "track": info.track,
        "year": info.year,
    }
    entries = []
    for source, audio in sources.items():
        outputs = []
        for spec in specs:
            if spec.source != source:
                continue
            relpath = spec.path.format(**fields)
            tags = _tags(info, spec.tag_style)
            filters = spec.filters
            if spec.speed != 1.0:
                filters = f"asetrate={round(SR * spec.speed)},aresample={SR}"
            outputs.append(_Output(out_dir / relpath, spec.args, filters, tags))
            # Album variants get their lead-in from a filter; case sources
            # (a needle drop's room noise) carry theirs already.
            lead = -spec.offset if source == "album" else 0.0
            entries.append(
                Entry(
                    relpath=relpath,
                    song=info.song,
                    recording=f"song{info.song:02d}-{spec.recording}",
                    variant=spec.name,
                    format=spec.ext,
                    codec=spec.codec,
                    lossless=spec.lossless,
                    bitrate_kbps=spec.bitrate_kbps,
                    sample_rate=spec.sample_rate,
                    bit_depth=spec.bit_depth,
                    duration=round(len(audio) / SR / spec.speed + lead, 4),
                    offset=spec.offset,
                    tags=tags,
                )
            )
        if outputs:
            _encode(audio, outputs)
    order = {spec.name: i for i, spec in enumerate(specs)}
    return sorted(entries, key=lambda e: order[e.variant])


def _case_sources(
    seed: int, duration: float, album: np.ndarray | None, needed: set[str]
) -> dict[str, np.ndarray]:
    """The renderings the whole-recording cases are encoded from."""
    out: dict[str, np.ndarray] = {}
    if album is not None:
        if "pregap" in needed:
            out["pregap"] = cases.pregap(album, seed)
        if needed & {"medley", "dj"}:
            other = cases.other_song(seed, duration)
            if "medley" in needed:
                out["medley"] = cases.medley(album, other)
            if "dj" in needed:
                out["dj"] = cases.dj_mix(album, other)
        if "altend" in needed:
            out["altend"] = cases.alternate_ending(album, seed)
    if "extoutro" in needed:
        out["extoutro"] = cases.extended_outro(seed, duration)
    if "live" in needed:
        out["live"] = cases.live_take(seed, duration)
    return out


def _build_extras(
    out_dir: Path, first_song: SongInfo | None, extras: tuple[str, ...]
) -> list[Entry]:
    """Write the silent tracks, the tone and the broken files."""
    n = round(EXTRA_SECONDS * SR)
    silence = np.zeros((n, 2), dtype=np.float32)
    t = np.arange(n) / SR
    tone = np.repeat((0.5 * np.sin(2 * np.pi * 440.0 * t))[:, None], 2, axis=1)
    mp3_128 = (*_MP3, "-b:a", "128k")
    sounds = {
        # name: (relpath, samples, ffmpeg args, codec, kbps, tags)
        "silence-flac": (
            "misc/Unknown Artist/Track 01.flac", silence, _FLAC16, "flac", None,
            {"artist": "Unknown Artist", "title": "Track 01"},
        ),
        "silence-mp3": (
            "misc/Unknown Artist - Track 02.mp3", silence, mp3_128, "mp3", 128,
            {"artist": "Unknown Artist", "title": "Track 02"},
        ),
        "tone-440": (
            "misc/test tones/440 Hz sine.flac", tone, _FLAC16, "flac", None,
            {"title": "440 Hz test tone"},
        ),
    }  # fmt: skip
    entries = []
    for name, (relpath, audio, args, codec, kbps, tags) in sounds.items():
        if name not in extras:
            continue
        _encode(audio, [_Output(out_dir / relpath, args, "", tags)])
        entries.append(
            Entry(
                relpath=relpath,
                song=None,
                recording=name,
                variant=name,
                format=codec,
                codec=codec,
                lossless=codec == "flac",
                bitrate_kbps=kbps,
                sample_rate=SR,
                bit_depth=16 if codec == "flac" else None,
                duration=EXTRA_SECONDS,
                offset=0.0,
                tags=tags,
            )
        )
    bad_dir = out_dir / "bad"
    if any(x.startswith("bad-") for x in extras):
        bad_dir.mkdir(parents=True, exist_ok=True)
    if "bad-truncated-mp3" in extras:
        # the first 2 KB of a real MP3, as left behind by a broken download
        real = synthmusic.render_song(first_song.seed, 10.0) if first_song else tone
        whole = bad_dir / "truncated.full.mp3"
        _encode(real, [_Output(whole, mp3_128, "", {"title": "Truncated"})])
        (bad_dir / "truncated.mp3").write_bytes(whole.read_bytes()[:2048])
        whole.unlink()
        entries.append(_bad_entry("bad/truncated.mp3", "bad-truncated-mp3", "mp3"))
    if "bad-empty-flac" in extras:
        (bad_dir / "empty.flac").write_bytes(b"")
        entries.append(_bad_entry("bad/empty.flac", "bad-empty-flac", "flac"))
    if "bad-text-mp3" in extras:
        (bad_dir / "README.mp3").write_text(
            "This is not an MP3 file. It is a note someone saved with the wrong\n"
            "extension; a library scanner has to skip it without crashing.\n",
            encoding="utf-8",
        )
        entries.append(_bad_entry("bad/README.mp3", "bad-text-mp3", "mp3"))
    return entries


def _bad_entry(relpath: str, variant: str, fmt: str) -> Entry:
    """The manifest entry of a file that is not decodable audio."""
    return Entry(
        relpath=relpath,
        song=None,
        recording=None,
        variant=variant,
        format=fmt,
        codec=None,
        lossless=False,
        bitrate_kbps=None,
        sample_rate=None,
        bit_depth=None,
        duration=None,
        offset=0.0,
    )


@dataclass(frozen=True)
class _Output:
    """One file for ffmpeg to write: where, how encoded, filtered and tagged."""

    dest: Path
    args: tuple[str, ...]
    filters: str
    tags: dict[str, str]


def _encode(audio: np.ndarray, outputs: list[_Output]) -> None:
    """Encode float stereo samples into every output with one ffmpeg run.

    Files are written under a temporary name and renamed when all are done,
    so an interrupted build never leaves a complete-looking broken file.
    """
    pcm = np.ascontiguousarray(audio, dtype="<f4").tobytes()
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "f32le", "-ar", str(SR), "-ac", "2", "-i", "pipe:0"]  # fmt: skip
    temps = []
    for out in outputs:
        out.dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.dest.with_name(out.dest.stem + ".part" + out.dest.suffix)
        temps.append(tmp)
        cmd += ["-map", "0:a", "-map_metadata", "-1", "-threads", "1"]
        if out.filters:
            cmd += ["-af", out.filters]
        cmd += list(out.args)
        for key, value in out.tags.items():
            cmd += ["-metadata", f"{key}={value}"]
        cmd.append(str(tmp))
    proc = subprocess.run(cmd, input=pcm, capture_output=True)
    if proc.returncode != 0:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        names = ", ".join(str(o.dest) for o in outputs)
        raise RuntimeError(
            f"ffmpeg failed writing {names}: {proc.stderr.decode(errors='replace')}"
        )
    for tmp, out in zip(temps, outputs, strict=True):
        os.replace(tmp, out.dest)


def main(argv: list[str] | None = None) -> int:
    """Command line: build a corpus and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--duration", type=float, default=ALBUM_SECONDS)
    parser.add_argument("--variants", help="comma-separated subset of variants")
    args = parser.parse_args(argv)
    variants = args.variants.split(",") if args.variants else None
    start = time.perf_counter()
    manifest = build_corpus(
        args.out_dir,
        args.songs,
        args.seed,
        args.workers,
        variants=variants,
        duration=args.duration,
    )
    took = time.perf_counter() - start
    n_groups = len(duplicate_groups(manifest))
    print(
        f"{len(manifest.entries)} files, {n_groups} duplicate groups, "
        f"{len(true_duplicate_pairs(manifest))} duplicate pairs in "
        f"{manifest.root} ({took:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
