"""`beet mirror` in library mode, end to end: a real in-place library, real links.

The library is imported in place (``copy: no``): its files live in
``music/flac`` and ``music/mp3``, outside the library directory. Made from
the generated corpus:

- "Window Gold": FLAC tracks 1-4 (two songs and their instrumentals), MP3
  tracks 1-2 (the two songs) under the same name: the MP3 copy is partial.
- "Metropole": FLAC tracks 1-2, and the MP3 album "[2014] Metropole" with
  the same two songs plus their radio edits (3-4): named differently, and
  partial the other way.
- "Radio Days": two radio edits, only in FLAC.

Each view shows every recording once per album, from its best copy for that
view. The unit tests at the end cover the pure rules on plain data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from beets.library import Item, Library
from conftest import BeetEnv, assert_link, links
from mediafile import MediaFile

from beetsplug.dedupfuzzy.mirror.albums import (
    Album,
    FolderCensus,
    Track,
    album_links,
    choose_copies,
    join_entries,
)
from beetsplug.dedupfuzzy.mirror.items import PathTemplate

CAFE = "Café Tides"
GLASS = "The Glass Engines"
GOLD_FLAC = f"flac/{CAFE}/Window Gold"
GOLD_MP3 = f"mp3/{CAFE}/Window Gold"
RADIO_FLAC = f"flac/{CAFE}/Radio Days"
METRO_FLAC = f"flac/{GLASS}/Metropole"
METRO_MP3 = f"mp3/{GLASS}/[2014] Metropole"

# folder -> (artist, album, [(corpus variant, song, title), ...] by track number)
FOLDERS = {
    GOLD_FLAC: (CAFE, "Window Gold", [
        ("master", 1, "Light mirror"),
        ("master", 2, "Window night"),
        ("instrumental", 1, "Light mirror (Instrumental)"),
        ("instrumental", 2, "Window night (Instrumental)"),
    ]),
    GOLD_MP3: (CAFE, "Window Gold", [
        ("mp3-320", 1, "Light mirror"),
        ("mp3-320", 2, "Window night"),
    ]),
    RADIO_FLAC: (CAFE, "Radio Days", [
        ("radio-edit", 1, "Light mirror (Radio Edit)"),
        ("radio-edit", 2, "Window night (Radio Edit)"),
    ]),
    METRO_FLAC: (GLASS, "Metropole", [
        ("master", 3, "Rain shadow avenue"),
        ("master", 4, "City window river"),
    ]),
    METRO_MP3: (GLASS, "[2014] Metropole", [
        ("mp3-320", 3, "Rain shadow avenue"),
        ("mp3-320", 4, "City window river"),
        ("radio-edit-mp3", 3, "Rain shadow avenue (Radio Edit)"),
        ("radio-edit-mp3", 4, "City window river (Radio Edit)"),
    ]),
}  # fmt: skip


def file_of(folder: str, track: int) -> str:
    """A track's file, relative to the music folder."""
    _, _, tracks = FOLDERS[folder]
    _, _, title = tracks[track - 1]
    ext = ".flac" if folder.startswith("flac/") else ".mp3"
    return f"{folder}/{track:02d} {title}{ext}"


@pytest.fixture(scope="module")
def album_template(tmp_path_factory, corpus) -> Path:
    """The in-place library, imported, tagged and fingerprinted."""
    root = tmp_path_factory.mktemp("albums")
    env = BeetEnv(root)
    env.write_config("dedupfuzzy:\n    auto: no\n")
    music = root / "music"
    by_song = {(e.variant, e.song): e for e in corpus.entries}
    for folder, (artist, album, tracks) in FOLDERS.items():
        for number, (variant, song, _) in enumerate(tracks, 1):
            target = music / file_of(folder, number)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(corpus.path(by_song[(variant, song)]), target)
            tags = MediaFile(str(target))
            tags.title = tracks[number - 1][2]
            tags.track = number
            tags.artist = tags.albumartist = artist
            tags.album = album
            tags.save()
    env.run("import", "-A", "-C", "-q", str(music))  # in place: copy: no
    env.run("dedupfuzzy")
    return root


class Mirror:
    """A private copy of the in-place library with both views configured."""

    def __init__(self, root: Path, extra: str = "") -> None:
        self.beet = BeetEnv(root)
        self.music = root / "music"
        self.high = root / "views" / "high"
        self.low = root / "views" / "low"
        self.quarantine = root / "quarantine"
        self.configure(extra)

    def configure(
        self, mirror: str = "", other: str = "", high: Path | None = None
    ) -> None:
        """Both views configured; ``mirror`` adds `mirror:` keys, ``other``
        top-level sections (YAML, not indented).
        """
        self.beet.write_config(
            f"mirror:\n    high: {high or self.high}\n    low: {self.low}\n"
            + "".join(f"    {line}\n" for line in mirror.splitlines())
            + other
        )

    def at(self, rel: str) -> Path:
        return self.music / rel

    def track(self, folder: str, number: int) -> Path:
        return self.music / file_of(folder, number)

    def run(self, *args: str, check: bool = True):
        return self.beet.run("mirror", "--depth", "2", *args, check=check)


@pytest.fixture
def mirror(tmp_path: Path, album_template: Path) -> Mirror:
    root = tmp_path / "lib"
    shutil.copytree(album_template, root, symlinks=True)
    made = Mirror(root)
    # The files live outside the library directory, so the copy's items
    # must be pointed at the copy's files.
    lib = Library(str(made.beet.dbpath), str(made.beet.libdir))
    for item in lib.items():
        rel = os.path.relpath(os.fsdecode(item.path), album_template)
        item.path = os.fsencode(root / rel)
        item.store()
    lib._close()
    return made


def expected_high(m: Mirror) -> dict[str, str]:
    metro = f"{GLASS}/Metropole"
    return {
        f"{CAFE}/Window Gold": str(m.at(GOLD_FLAC)),
        f"{CAFE}/Radio Days": str(m.at(RADIO_FLAC)),
        f"{metro}/01 Rain shadow avenue.flac": str(m.track(METRO_FLAC, 1)),
        f"{metro}/02 City window river.flac": str(m.track(METRO_FLAC, 2)),
        f"{metro}/03 Rain shadow avenue (Radio Edit).mp3": str(m.track(METRO_MP3, 3)),
        f"{metro}/04 City window river (Radio Edit).mp3": str(m.track(METRO_MP3, 4)),
    }


def expected_low(m: Mirror) -> dict[str, str]:
    gold = f"{CAFE}/Window Gold"
    return {
        f"{gold}/01 Light mirror.mp3": str(m.track(GOLD_MP3, 1)),
        f"{gold}/02 Window night.mp3": str(m.track(GOLD_MP3, 2)),
        f"{gold}/03 Light mirror (Instrumental).flac": str(m.track(GOLD_FLAC, 3)),
        f"{gold}/04 Window night (Instrumental).flac": str(m.track(GOLD_FLAC, 4)),
        f"{CAFE}/Radio Days": str(m.at(RADIO_FLAC)),
        f"{GLASS}/Metropole": str(m.at(METRO_MP3)),
    }


def inodes(view: Path) -> dict[str, int]:
    return {rel: os.lstat(view / rel).st_ino for rel in links(view)}


def test_every_recording_once_per_view_from_its_best_copy(mirror: Mirror):
    out = mirror.run().stdout

    assert links(mirror.high) == expected_high(mirror)
    assert links(mirror.low) == expected_low(mirror)
    # A folder holding exactly the view's choice is linked whole ...
    assert sorted(os.listdir(mirror.low / GLASS / "Metropole")) == sorted(
        os.listdir(mirror.at(METRO_MP3))
    )
    # ... any other album is a real folder of per-track links.
    gold = mirror.low / CAFE / "Window Gold"
    assert gold.is_dir() and not gold.is_symlink()
    assert "12 created, 0 replaced, 0 removed" in out


def test_a_rerun_changes_nothing(mirror: Mirror):
    mirror.run()
    before = {view: inodes(view) for view in (mirror.high, mirror.low)}

    out = mirror.run().stdout

    assert "0 created, 0 replaced, 0 removed, 12 unchanged, 0 conflicts" in out
    assert {view: inodes(view) for view in (mirror.high, mirror.low)} == before


def test_an_album_removed_from_an_in_place_library_leaves_both_views(mirror: Mirror):
    mirror.run()

    mirror.beet.run("remove", "-f", "album:Radio Days")
    out = mirror.run().stdout

    for view in (mirror.high, mirror.low):
        assert not (view / CAFE / "Radio Days").is_symlink()
    assert links(mirror.high) == {
        k: v for k, v in expected_high(mirror).items() if "Radio Days" not in k
    }
    assert "2 removed" in out
    assert len(os.listdir(mirror.at(RADIO_FLAC))) == 2  # the files stay


def test_a_copy_removed_from_the_library_hands_its_tracks_to_the_other(
    mirror: Mirror,
):
    mirror.run()

    mirror.beet.run("remove", "-f", f"path:{mirror.at(METRO_FLAC)}")
    mirror.run()

    # Only the MP3 album is left, under its own name, linked whole.
    for view in (mirror.high, mirror.low):
        assert_link(view / GLASS / "[2014] Metropole", mirror.at(METRO_MP3))
        assert not (view / GLASS / "Metropole").exists()


def test_a_depth_change_moves_the_recorded_links(mirror: Mirror):
    mirror.run()

    out = mirror.run("--depth", "1", "--path", "$album/$track $title").stdout

    assert "0 conflicts" in out and "foreign" not in out
    assert links(mirror.high)["Radio Days"] == str(mirror.at(RADIO_FLAC))
    assert links(mirror.low)["Metropole"] == str(mirror.at(METRO_MP3))
    assert not (mirror.high / CAFE).exists()

    mirror.run()

    assert links(mirror.high) == expected_high(mirror)
    assert links(mirror.low) == expected_low(mirror)
    assert not (mirror.high / "Radio Days").exists()


def test_a_moved_view_folder_takes_its_links_along(mirror: Mirror):
    mirror.run()
    elsewhere = mirror.beet.root / "elsewhere" / "high"

    mirror.configure(high=elsewhere)
    mirror.run()

    assert links(elsewhere) == expected_high(mirror)
    assert links(mirror.high) == {}
    assert links(mirror.low) == expected_low(mirror)


def test_a_view_reached_through_a_symlink_keeps_its_links(mirror: Mirror):
    # --relative names the view by its real path, the record by the other.
    (mirror.beet.root / "via").symlink_to(mirror.beet.root / "views")
    mirror.configure(high=mirror.beet.root / "via" / "high")
    mirror.run()

    out = mirror.run("--relative").stdout

    assert "6 replaced" in out and "0 removed" in out
    for rel, target in expected_high(mirror).items():
        assert not os.readlink(mirror.high / rel).startswith("/")
        assert (mirror.high / rel).resolve() == Path(target).resolve()


def test_a_query_refreshes_only_its_albums(mirror: Mirror):
    mirror.run()
    mirror.beet.run("remove", "-f", "album:Radio Days")
    (mirror.high / GLASS / "Metropole" / "01 Rain shadow avenue.flac").unlink()

    out = mirror.run("album:[2014] Metropole").stdout

    assert "1 created, 0 replaced, 0 removed" in out
    assert links(mirror.high) == expected_high(mirror)  # Radio Days stays


def test_links_the_mirror_did_not_make_are_left_alone(mirror: Mirror):
    mine = mirror.high / CAFE / "My Radio Days"
    mine.parent.mkdir(parents=True)
    mine.symlink_to(mirror.at(RADIO_FLAC))
    dangling = mirror.high / CAFE / "Gone"
    dangling.symlink_to(mirror.beet.root / "nowhere")

    mirror.run("--overwrite-symlinks")
    mirror.beet.run("remove", "-f", "album:Radio Days")
    mirror.run("--overwrite-symlinks")

    assert os.readlink(mine) == str(mirror.at(RADIO_FLAC))
    assert os.readlink(dangling) == str(mirror.beet.root / "nowhere")


def test_items_without_a_usable_file_are_named_and_not_linked(mirror: Mirror):
    missing = mirror.track(GOLD_FLAC, 3)
    missing.unlink()
    folder = mirror.track(METRO_MP3, 4)
    folder.unlink()
    folder.mkdir()

    proc = mirror.run()

    assert f"{missing}: file missing, not linked" in proc.stderr
    assert f"{folder}: a folder, not a file, not linked" in proc.stderr
    targets = set(links(mirror.high).values()) | set(links(mirror.low).values())
    assert str(missing) not in targets and str(folder) not in targets
    # Track 3 is now shown from nowhere; the other tracks still are.
    assert str(mirror.track(GOLD_FLAC, 4)) in targets


@pytest.mark.parametrize(
    ("view", "args", "message"),
    [
        ("library/views", (), "is inside the library directory"),
        (f"music/{GOLD_FLAC}/views", (), "a folder of library items"),
        ("music", (), "holds library items"),
        ("views/high", ("--path", "$albumartist/$album"), "nothing to name the tracks"),
    ],
)
def test_a_mistake_is_refused_with_one_line(mirror: Mirror, view, args, message):
    proc = mirror.run("--high", str(mirror.beet.root / view), *args, check=False)

    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not mirror.low.exists()


def test_the_quarantine_keeps_the_lossy_copies_the_low_view_shows(mirror: Mirror):
    mirror.configure("auto: yes")
    mirror.run()

    out = mirror.beet.run("dedupfuzzy", "-m", str(mirror.quarantine)).stdout

    assert "the low mirror view shows the lossy ones" in out
    assert "moved" not in out
    assert links(mirror.low) == expected_low(mirror)


def test_auto_refresh_follows_moves_when_keep_best_is_asked_for(mirror: Mirror):
    mirror.configure("auto: yes", "dedupfuzzy:\n    keep: best\n")
    mirror.run()

    out = mirror.beet.run("dedupfuzzy", "-m", str(mirror.quarantine)).stdout

    # The MP3 copies of the FLAC songs left: the low view shows the FLACs,
    # every recording still once in each view.
    assert "moved 4 file(s)" in out
    assert links(mirror.low)[f"{CAFE}/Window Gold"] == str(mirror.at(GOLD_FLAC))
    assert links(mirror.high)[f"{GLASS}/Metropole"] == str(mirror.at(METRO_FLAC))

    mirror.beet.run("dedupfuzzy", "--undo")

    assert links(mirror.high) == expected_high(mirror)
    assert links(mirror.low) == expected_low(mirror)


def test_a_failed_auto_refresh_is_a_warning_after_the_move(mirror: Mirror):
    mirror.configure("auto: yes", "dedupfuzzy:\n    keep: best\n")
    mirror.high.parent.mkdir(parents=True)
    mirror.high.write_text("not a folder")

    proc = mirror.beet.run("dedupfuzzy", "-m", str(mirror.quarantine))

    assert "moved 4 file(s)" in proc.stdout
    assert "the mirror views were not refreshed" in proc.stderr
    assert "is a file, not a folder" in proc.stderr
    assert mirror.high.read_text() == "not a folder"


def test_auto_refresh_after_an_import(mirror: Mirror, corpus):
    mirror.configure("auto: yes")
    mirror.run()
    folder = mirror.at(f"flac/{CAFE}/Window Gold (Extended)")
    folder.mkdir(parents=True)
    for entry in corpus.entries:
        if entry.variant == "extended" and entry.song in (1, 2):
            shutil.copy2(corpus.path(entry), folder)

    out = mirror.beet.run("import", "-A", "-C", "-q", str(folder)).stdout

    assert "2 created, 0 replaced, 0 removed, 12 unchanged" in out


def test_a_template_needing_items_gives_the_same_views(mirror: Mirror):
    slow = mirror.beet.root / "slow"

    # $singleton is computed, so the items are read through beets.
    mirror.run(
        "--path",
        "$albumartist/%if{$singleton,$album,$album}/$track $title",
        "--high",
        str(slow / "high"),
        "--low",
        str(slow / "low"),
    )

    assert links(slow / "high") == expected_high(mirror)
    assert links(slow / "low") == expected_low(mirror)


def test_pretend_creates_nothing(mirror: Mirror):
    out = mirror.run("--pretend").stdout

    assert f"create low:{GLASS}/Metropole -> {mirror.at(METRO_MP3)}" in out
    assert not mirror.high.exists()


def test_relative_links_resolve(mirror: Mirror):
    mirror.run("--relative")

    link = mirror.low / GLASS / "Metropole"
    assert not os.readlink(link).startswith("/")
    assert link.resolve() == mirror.at(METRO_MP3).resolve()


def test_no_view_configured_is_one_clear_line(beet: BeetEnv):
    proc = beet.run("mirror", check=False)

    assert proc.returncode != 0
    assert "no views configured" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_empty_library_makes_empty_views(beet: BeetEnv):
    out = beet.run("mirror", "--high", str(beet.root / "high")).stdout

    assert "0 created" in out


def test_on_the_whole_corpus_each_view_shows_every_recording_once_per_album(
    library: BeetEnv, corpus
):
    views = {name: library.root / "views" / name for name in ("high", "low")}
    library.run("mirror", "--high", str(views["high"]), "--low", str(views["low"]))
    recording_of = {
        str(library.libdir / e.relpath): e.recording
        for e in corpus.entries
        if e.recording is not None
    }

    for name, view in views.items():
        shown: dict[str, list[str]] = {}
        for rel, target in links(view).items():
            album = os.sep.join(Path(rel).parts[:2])
            files = (
                [os.path.join(target, f) for f in os.listdir(target)]
                if os.path.isdir(target)
                else [target]
            )
            shown.setdefault(album, []).extend(recording_of[f] for f in files)
        every = [r for album in shown.values() for r in album]
        assert set(every) == set(recording_of.values()), name
        for album, recordings in shown.items():
            assert len(recordings) == len(set(recordings)), (name, album)


def test_entries_are_named_as_beets_names_folders(tmp_path: Path):
    """The SQL path evaluates the template exactly as `Item.destination` does."""
    lib = Library(str(tmp_path / "lib.db"), str(tmp_path / "music"))
    odd_names = [
        ("AC/DC", "Live: at the *Bowl*?", "  Spaced  "),
        ("", ".hidden", "Trailing."),
        ("Björk", "Homogenic", "Jóga"),
        ("Artist", "x" * 300, "Long"),
    ]
    for n, (albumartist, album, title) in enumerate(odd_names):
        item = Item(
            path=str(tmp_path / "music" / f"{n}.flac"),
            albumartist=albumartist,
            artist="Fallback Artist",
            album=album,
            title=title,
            track=n + 1,
            format="FLAC",
        )
        lib.add(item)
    in_album = Item(
        path=str(tmp_path / "music" / "a.mp3"),
        albumartist="Item Artist",
        album="Item Album",
        title="T",
        format="MP3",
    )
    lib.add(in_album)
    album = lib.add_album([in_album])
    album.albumartist = "Album Artist"
    album.store(inherit=False)
    template_text = "$albumartist/$album/$track $title"
    template = PathTemplate(template_text, 2, lib)
    assert template.fast

    tracks = template.read(lib)

    for track in tracks:
        item = lib.get_item(track.id)
        wanted = item.destination(
            relative_to_libdir=True, path_formats=[("default", template_text)]
        )
        parts = os.fsdecode(wanted).split(os.sep)
        assert track.entry == os.sep.join(parts[:2])
        assert os.path.join(track.entry, template.track_name(track)) == (
            os.fsdecode(wanted)
        )
    entries = {t.entry for t in tracks}
    assert "Album Artist/Item Album" in entries
    assert "AC_DC/Live_ at the _Bowl__" in entries


# --- The pure rules, on plain data ------------------------------------------


def track(
    id: int, folder: str, entry: str, fmt: str = "FLAC", recording=None, **kw
) -> Track:
    lossless = fmt == "FLAC"
    ext = ".flac" if lossless else ".mp3"
    name = kw.get("name", f"{id:02d} t")
    return Track(
        id=id,
        path=f"/lib/{folder}/{name}{ext}",
        folder=f"/lib/{folder}",
        format=fmt,
        bitrate=900_000 if lossless else kw.get("bitrate", 320_000),
        bitdepth=16 if lossless else 0,
        samplerate=44100,
        entry=entry,
        recording=recording,
        source=name,
    )


def album(folder: str, entry: str, fmt: str, recordings, first: int) -> list[Track]:
    return [
        track(first + n, folder, entry, fmt, recording)
        for n, recording in enumerate(recordings)
    ]


def name_of(t: Track) -> str:
    return str(t.source) + os.path.splitext(t.path)[1]


def rank(copies):
    from beetsplug.dedupfuzzy import quality

    return quality.rank(copies)


def test_entries_sharing_most_recordings_join_under_the_best_copys_name():
    flac = album("flac/m", "A/Metropole", "FLAC", [1, 2], first=1)
    mp3 = album("mp3/m", "A/[2014] Metropole", "MP3", [1, 2, 3, 4], first=11)
    single = album("mp3/s", "A/Single", "MP3", [5], first=21)
    big = album("flac/b", "A/Big", "FLAC", [5, 6, 7, 8, 9, 10], first=31)

    albums = join_entries(flac + mp3 + single + big)

    assert [(a.rel, a.names) for a in albums] == [
        ("A/Big", ["A/Big"]),
        ("A/Metropole", ["A/Metropole", "A/[2014] Metropole"]),
        ("A/Single", ["A/Single"]),
    ]


def test_each_view_shows_every_recording_once():
    tracks = album("flac/x", "A/X", "FLAC", [1, 2, 3], first=1)
    tracks += album("mp3/x", "A/X", "MP3", [1, 2, 4, 5], first=11)
    tracks += [track(21, "mp3/y", "A/X", "MP3", 1, bitrate=128_000)]
    (only,) = join_entries(tracks)

    high, low = choose_copies(only, rank, name_of)

    assert sorted(t.id for t in high) == [1, 2, 3, 13, 14]
    assert sorted(t.id for t in low) == [3, 11, 12, 13, 14]


def test_items_without_a_recording_are_one_with_a_namesake():
    tracks = [
        track(1, "flac/x", "A/X", "FLAC", 7, name="01 t"),
        track(2, "mp3/x", "A/X", "MP3", None, name="01 t"),
        track(3, "mp3/x", "A/X", "MP3", None, name="02 u"),
    ]
    (only,) = join_entries(tracks)

    high, low = choose_copies(only, rank, name_of)

    assert sorted(t.id for t in high) == [1, 3]
    assert sorted(t.id for t in low) == [2, 3]


def test_a_folder_is_linked_whole_only_when_it_holds_exactly_the_choice():
    gold = album("flac/gold", "A/Gold", "FLAC", [1, 2], first=1)
    census = FolderCensus(t.folder for t in gold)
    crowded = FolderCensus([t.folder for t in gold] + ["/lib/flac/gold"])
    nested = FolderCensus([t.folder for t in gold] + ["/lib/flac/gold/cd2"])

    assert album_links("A/Gold", gold, census, name_of) == {"A/Gold": "/lib/flac/gold"}
    for other in (crowded, nested):
        assert set(album_links("A/Gold", gold, other, name_of)) == {
            "A/Gold/01 t.flac",
            "A/Gold/02 t.flac",
        }


def test_two_tracks_of_one_name_are_told_apart():
    shown = [
        track(1, "f", "A/X", name="01 t"),
        track(2, "g", "A/X", name="01 t"),
    ]
    census = FolderCensus(t.folder for t in shown)

    found = album_links("A/X", shown, census, name_of)

    assert found["A/X/01 t.flac"].id == 1
    assert found["A/X/01 t.1.flac"].id == 2


def test_an_album_is_one_entry_per_view_even_with_one_track():
    single = Album("A/S", [track(1, "f", "A/S", "MP3", 9)], ["A/S"])

    high, low = choose_copies(single, rank, name_of)

    assert high == low == single.tracks


@pytest.mark.parametrize(
    "rest",
    ["01 Plain", "01 Mr. Smith", "Trailing.", "  Spaced  ", "Bad:name?*", ".hidden"]
    + ["x" * 300, "é" * 200, "cd1/01 Nested", ""],
)
@pytest.mark.parametrize("ext", [".flac", ".MP3", "", ".tar.gz"])
def test_track_names_are_legalised_as_beets_does(tmp_path: Path, rest, ext):
    from beets import util

    lib = Library(str(tmp_path / "lib.db"), str(tmp_path / "music"))
    template = PathTemplate("$album/$title", 1, lib)

    wanted, _ = util.legalize_path(rest, lib.replacements, ext)

    assert template.legal_name(rest, ext) == wanted


def age_music(m: Mirror) -> None:
    """Date every music folder a day back, as an untouched library's are
    (a folder changed in the last seconds is never trusted by the stamp).
    """
    past = os.stat(m.music).st_mtime - 86400
    for folder, _, _ in os.walk(m.music):
        os.utime(folder, (past, past))


UNCHANGED = "nothing changed since the last run"


def test_an_unchanged_rerun_checks_only_the_recorded_links(mirror: Mirror):
    age_music(mirror)
    mirror.run()

    again = mirror.run("--pretend")
    quick = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert "12 unchanged, 0 conflicts" in again.stdout
    assert UNCHANGED in quick.stdout + quick.stderr
    assert "0 created, 0 replaced, 0 removed, 12 unchanged" in quick.stdout
    assert links(mirror.high) == expected_high(mirror)


def test_a_link_deleted_behind_the_mirrors_back_is_put_back(mirror: Mirror):
    age_music(mirror)
    mirror.run()
    (mirror.low / CAFE / "Window Gold" / "01 Light mirror.mp3").unlink()
    (mirror.high / CAFE / "Radio Days").unlink()

    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert UNCHANGED not in out.stdout + out.stderr
    assert "2 created" in out.stdout
    assert links(mirror.high) == expected_high(mirror)
    assert links(mirror.low) == expected_low(mirror)


def test_a_file_gone_from_a_folder_linked_whole_is_seen(mirror: Mirror):
    age_music(mirror)
    mirror.run()
    gone = mirror.track(RADIO_FLAC, 2)
    gone.unlink()  # the DB still lists it; only its folder's time tells

    out = mirror.beet.run("-v", "mirror", "--depth", "2")
    age_music(mirror)
    mirror.run()
    replay = mirror.beet.run("mirror", "--depth", "2")

    assert UNCHANGED not in out.stdout + out.stderr
    assert f"{gone}: file missing, not linked" in out.stderr
    # The folder now holds an item the view cannot show: track by track.
    radio = mirror.high / CAFE / "Radio Days"
    assert radio.is_dir() and not radio.is_symlink()
    assert set(links(radio).values()) == {str(mirror.track(RADIO_FLAC, 1))}
    # A run that changes nothing still names the missing file.
    assert f"{gone}: file missing, not linked" in replay.stderr


def test_a_changed_item_makes_a_full_run(mirror: Mirror):
    age_music(mirror)
    mirror.run()

    mirror.beet.run("modify", "-y", "-M", "-W", "-a", "album:Radio Days",
                    "album=Radio Nights")  # fmt: skip
    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert UNCHANGED not in out.stdout + out.stderr
    for view in (mirror.high, mirror.low):
        assert_link(view / CAFE / "Radio Nights", mirror.at(RADIO_FLAC))
        assert not (view / CAFE / "Radio Days").exists()


def test_a_view_dropped_from_the_configuration_loses_the_mirrors_links(
    mirror: Mirror,
):
    mirror.run()
    mine = mirror.low / CAFE / "My Radio Days"
    mine.symlink_to(mirror.at(RADIO_FLAC))

    mirror.beet.write_config(f"mirror:\n    high: {mirror.high}\n")
    out = mirror.run()
    again = mirror.run()

    assert "6 removed" in out.stdout
    assert "the low view is not configured any more" in out.stderr
    assert links(mirror.low) == {f"{CAFE}/My Radio Days": str(mirror.at(RADIO_FLAC))}
    assert not (mirror.low / GLASS).exists()  # folders it made are pruned
    assert links(mirror.high) == expected_high(mirror)
    assert "0 removed" in again.stdout and "not configured" not in again.stderr


def test_a_query_run_follows_its_album_and_prunes_what_it_emptied(mirror: Mirror):
    mirror.run()
    cafe = {view: inodes(view / CAFE) for view in (mirror.high, mirror.low)}

    mirror.beet.run("modify", "-y", "-M", "-W", "-a", f"albumartist:{GLASS}",
                    "albumartist=Glass Engines")  # fmt: skip
    out = mirror.run("albumartist:Glass Engines").stdout

    assert "0 conflicts" in out
    for view in (mirror.high, mirror.low):
        assert not (view / GLASS).exists()  # emptied by the run: pruned
        assert (view / "Glass Engines" / "Metropole").exists()
    assert_link(mirror.low / "Glass Engines" / "Metropole", mirror.at(METRO_MP3))
    # The other albums were not planned: the very same links.
    assert {view: inodes(view / CAFE) for view in (mirror.high, mirror.low)} == cafe


def test_a_folder_of_links_swapped_for_a_link_is_seen(mirror: Mirror):
    age_music(mirror)
    mirror.run()
    gold = mirror.low / CAFE / "Window Gold"
    elsewhere = mirror.beet.root / "gold elsewhere"
    gold.rename(elsewhere)  # the links inside still read the same
    gold.symlink_to(elsewhere)

    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert UNCHANGED not in out.stdout + out.stderr
    assert "foreign link where a folder is needed" in out.stderr
    assert os.readlink(gold) == str(elsewhere)  # not the mirror's: left alone
