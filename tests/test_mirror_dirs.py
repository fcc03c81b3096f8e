"""End-to-end tests of `beet mirror` in directory mode, on real folders and links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from beets.library import Library
from conftest import BeetEnv, assert_link, links

from beetsplug.dedupfuzzy.mirror import scan as mirror_scan
from beetsplug.dedupfuzzy.mirror.command import MirrorOptions, run_directory_mode
from beetsplug.dedupfuzzy.mirror.model import ActionKind


@pytest.fixture
def music(beet: BeetEnv) -> Music:
    return Music(beet)


class Music:
    """Two source folders and two views inside the test's beets set-up."""

    def __init__(self, beet: BeetEnv) -> None:
        self.beet = beet
        self.flac = beet.root / "music" / "flac"
        self.mp3 = beet.root / "music" / "mp3"
        self.high = beet.root / "views" / "high"
        self.low = beet.root / "views" / "low"
        self.flac.mkdir(parents=True)
        self.mp3.mkdir(parents=True)

    def album(self, source: Path, rel: str) -> Path:
        """An album folder holding one track."""
        folder = source / rel
        folder.mkdir(parents=True)
        (folder / "01 Track.flac").write_bytes(b"audio")
        return folder

    def loose(self, source: Path, rel: str) -> Path:
        path = source / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"audio")
        return path

    def mirror(
        self, *extra: str, depth: int = 1, check: bool = True, verbose: bool = False
    ):
        return self.beet.run(
            *(["-v"] if verbose else []),
            "mirror",
            "--depth",
            str(depth),
            "--source-high",
            str(self.flac),
            "--source-low",
            str(self.mp3),
            "--high",
            str(self.high),
            "--low",
            str(self.low),
            *extra,
            check=check,
        )


def test_mmirror_example_depth_1(music: Music):
    for name in "01234":
        music.album(music.mp3, name)
    for name in "2345":
        music.album(music.flac, name)

    music.mirror()

    high = {
        rel: ("h" if t.startswith(str(music.flac)) else "l") + rel
        for rel, t in links(music.high).items()
    }
    low = {
        rel: ("h" if t.startswith(str(music.flac)) else "l") + rel
        for rel, t in links(music.low).items()
    }
    assert sorted(high.values()) == ["h2", "h3", "h4", "h5", "l0", "l1"]
    assert sorted(low.values()) == ["h5", "l0", "l1", "l2", "l3", "l4"]


def test_depth_2_makes_artist_folders_real_and_album_folders_links(music: Music):
    music.album(music.flac, "Artist/[2001] Album")
    music.album(music.mp3, "Artist/[1999] Other")

    music.mirror(depth=2)

    artist = music.high / "Artist"
    assert artist.is_dir() and not artist.is_symlink()
    assert_link(artist / "[2001] Album", music.flac / "Artist" / "[2001] Album")
    assert_link(artist / "[1999] Other", music.mp3 / "Artist" / "[1999] Other")
    assert (artist / "[2001] Album" / "01 Track.flac").read_bytes() == b"audio"


def test_pretend_prints_the_plan_and_creates_nothing(music: Music):
    music.album(music.flac, "A")

    out = music.mirror("--pretend").stdout

    assert "create high:A" in out and "create low:A" in out
    assert "2 created" in out
    assert not music.high.exists() and not music.low.exists()


def test_a_name_with_a_newline_is_one_line_of_the_plan(music: Music):
    music.album(music.flac, "Two\nLines")

    out = music.mirror("--pretend").stdout

    assert "create high:Two\\nLines" in out
    assert not any(line.startswith("Lines") for line in out.splitlines())


def test_simulate_is_an_alias_of_pretend(music: Music):
    music.album(music.flac, "A")

    music.mirror("--simulate")

    assert not music.high.exists()


def test_a_dangling_link_into_a_source_is_replaced(music: Music):
    music.album(music.flac, "A")
    music.high.mkdir(parents=True)
    (music.high / "A").symlink_to(music.flac / "gone")

    music.mirror()

    assert_link(music.high / "A", music.flac / "A")


def test_a_foreign_link_is_left_and_reported(music: Music, tmp_path: Path):
    music.album(music.flac, "A")
    music.high.mkdir(parents=True)
    (music.high / "A").symlink_to(tmp_path / "elsewhere")

    proc = music.mirror()

    assert os.readlink(music.high / "A") == str(tmp_path / "elsewhere")
    assert "foreign high:A" in proc.stderr
    assert "1 foreign links left" in proc.stdout


def test_a_foreign_link_is_replaced_with_overwrite_symlinks(
    music: Music, tmp_path: Path
):
    music.album(music.flac, "A")
    music.high.mkdir(parents=True)
    (music.high / "A").symlink_to(tmp_path / "elsewhere")

    music.mirror("--overwrite-symlinks")

    assert_link(music.high / "A", music.flac / "A")


def test_a_real_folder_in_a_view_is_left_untouched(music: Music):
    music.album(music.flac, "A")
    real = music.high / "A"
    real.mkdir(parents=True)
    (real / "mine.txt").write_text("keep me")

    proc = music.mirror()

    assert real.is_dir() and not real.is_symlink()
    assert (real / "mine.txt").read_text() == "keep me"
    assert "conflict high:A" in proc.stderr
    assert "1 conflicts" in proc.stdout
    assert_link(music.low / "A", music.flac / "A")


def test_a_real_file_in_a_view_is_left_untouched(music: Music):
    music.album(music.flac, "A")
    music.high.mkdir(parents=True)
    (music.high / "A").write_text("keep me")

    music.mirror()

    assert (music.high / "A").read_text() == "keep me"
    assert not (music.high / "A").is_symlink()


def test_an_entry_removed_from_the_sources_leaves_both_views(music: Music):
    gone = music.album(music.flac, "Artist/Gone")
    music.album(music.mp3, "Other/Stays")
    music.mirror(depth=2)
    (gone / "01 Track.flac").unlink()
    gone.rmdir()

    out = music.mirror(depth=2).stdout

    for view in (music.high, music.low):
        assert not (view / "Artist").exists()
        assert not (view / "Artist").is_symlink()
        assert (view / "Other" / "Stays").is_symlink()
    assert "2 removed" in out


def test_a_depth_change_moves_the_recorded_links(music: Music):
    music.album(music.flac, "Artist/A")
    music.album(music.mp3, "Artist/B")
    music.mirror(depth=2)

    out = music.mirror(depth=1).stdout

    assert "0 conflicts" in out and "foreign" not in out
    assert links(music.high) == {"Artist": str(music.flac / "Artist")}
    assert links(music.low) == {"Artist": str(music.mp3 / "Artist")}


def test_a_rerun_with_nothing_changed_changes_nothing(music: Music):
    music.album(music.flac, "Artist/A")
    music.album(music.mp3, "Artist/B")
    music.mirror(depth=2)
    before = {link: os.lstat(music.high / link).st_ino for link in links(music.high)}

    out = music.mirror(depth=2).stdout

    assert "0 created, 0 replaced, 0 removed, 4 unchanged, 0 conflicts" in out
    after = {link: os.lstat(music.high / link).st_ino for link in links(music.high)}
    assert after == before


def test_relative_links_resolve(music: Music):
    music.album(music.flac, "Artist/A")

    music.mirror("--relative", depth=2)

    link = music.high / "Artist" / "A"
    assert os.readlink(link) == "../../../music/flac/Artist/A"
    assert link.resolve() == (music.flac / "Artist" / "A").resolve()


def test_loose_files_are_linked_as_files(music: Music):
    music.album(music.flac, "Artist/Album")
    track = music.loose(music.mp3, "Artist/loose.mp3")
    single = music.loose(music.flac, "single.flac")

    music.mirror(depth=2)

    assert_link(music.high / "Artist" / "loose.mp3", track)
    assert_link(music.low / "single.flac", single)
    assert (music.low / "Artist" / "loose.mp3").is_file()


def test_symlinked_source_folders_are_followed_only_when_asked(
    music: Music, tmp_path: Path
):
    outside = tmp_path / "outside"
    (outside / "Album").mkdir(parents=True)
    (music.flac / "Artist").symlink_to(outside)

    music.mirror(depth=2)
    assert not (music.high / "Artist").exists()

    music.mirror("--follow-symlinks", depth=2)
    assert_link(music.high / "Artist" / "Album", music.flac / "Artist" / "Album")


def test_verbose_prints_one_line_per_change(music: Music):
    music.album(music.flac, "A")
    music.album(music.flac, "B")

    proc = music.mirror(verbose=True)

    assert proc.stderr.count("dedupfuzzy: create ") == 4


def test_config_keys_work_like_the_flags(music: Music):
    music.album(music.mp3, "Artist/A")
    music.beet.write_config(
        f"""\
        mirror:
            source_high: {music.flac}
            source_low: {music.mp3}
            low: {music.low}
            depth: 2
            relative: yes
        """
    )

    music.beet.run("mirror")

    assert os.readlink(music.low / "Artist" / "A") == "../../../music/mp3/Artist/A"
    assert not music.high.exists()


def test_a_missing_source_is_one_clear_line(music: Music):
    music.mp3.rmdir()

    proc = music.mirror(check=False)

    assert proc.returncode != 0
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not music.high.exists()


def test_a_view_that_is_a_file_is_one_clear_line(music: Music):
    music.album(music.flac, "A")
    music.high.parent.mkdir(parents=True)
    music.high.write_text("not a folder")

    proc = music.mirror(check=False)

    assert proc.returncode != 0
    assert "is a file, not a folder" in proc.stderr
    assert music.high.read_text() == "not a folder"


def test_a_view_holding_a_source_is_refused(music: Music):
    music.album(music.flac, "A")
    music.high = music.beet.root / "music"

    proc = music.mirror(check=False)

    assert proc.returncode != 0
    assert "holds the source" in proc.stderr
    assert not music.low.exists()


@pytest.mark.parametrize(
    ("place", "message"),
    [
        (lambda m: m.flac / "views", "is inside the source"),
        (lambda m: m.beet.libdir / "views", "is inside the library directory"),
    ],
)
def test_a_view_in_the_music_is_refused(music: Music, place, message):
    music.album(music.flac, "A")
    music.high = place(music)

    proc = music.mirror(check=False)

    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not music.low.exists()


def test_one_folder_as_both_sources_is_refused(music: Music):
    music.album(music.flac, "A")
    music.mp3 = music.flac

    proc = music.mirror(check=False)

    assert proc.returncode != 0
    assert "overlap" in proc.stderr
    assert not music.high.exists()


def test_a_link_the_mirror_did_not_make_stays_when_its_entry_goes(music: Music):
    gone = music.album(music.flac, "Gone")
    music.high.mkdir(parents=True)
    (music.high / "Gone").symlink_to(gone)  # the user's own link
    music.mirror()
    (gone / "01 Track.flac").unlink()
    gone.rmdir()
    music.album(music.flac, "B")

    music.mirror()

    # The low view's link was the mirror's: removed; the user's stays.
    assert os.readlink(music.high / "Gone") == str(gone)
    assert not (music.low / "Gone").is_symlink()
    assert_link(music.high / "B", music.flac / "B")


def test_a_query_in_directory_mode_is_one_clear_line(music: Music):
    proc = music.mirror("artist:x", check=False)

    assert proc.returncode != 0
    assert "directory mode" in proc.stderr and "takes none" in proc.stderr
    assert "Traceback" not in proc.stderr


class RecordingLog:
    """Stands in for the plugin's logger: keeps the formatted warnings."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, fmt: str, *args) -> None:
        self.warnings.append(fmt.format(*args))

    def debug(self, fmt: str, *args) -> None:
        pass

    info = debug


def refuse(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make os.scandir refuse one folder, as it would for a non-root user."""
    locked = str(folder)
    real_scandir = os.scandir

    def scandir(path):
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(mirror_scan.os, "scandir", scandir)


def test_an_unreadable_source_folder_is_reported_and_its_links_kept(
    music: Music, monkeypatch: pytest.MonkeyPatch
):
    # Tests run as root, who reads every folder: chmod cannot make one
    # unreadable, so the refusal is simulated and the run is in process.
    music.album(music.flac, "Artist/A")
    music.album(music.mp3, "Other/B")
    music.mirror(depth=2)
    refuse(monkeypatch, music.flac / "Artist")
    log = RecordingLog()
    options = MirrorOptions(
        depth=2,
        source_high=str(music.flac),
        source_low=str(music.mp3),
        high=str(music.high),
        low=str(music.low),
    )

    lib = Library(str(music.beet.dbpath), str(music.beet.libdir))
    run = run_directory_mode(lib, log, options)

    assert f"cannot read {music.flac / 'Artist'}: Permission denied" in log.warnings
    for view in (music.high, music.low):
        assert (view / "Artist" / "A").is_symlink()
        assert (view / "Other" / "B").is_symlink()
    assert run.plan.count(ActionKind.REMOVE) == 0
    assert "0 removed" in run.summary


def test_scan_source_reports_an_unreadable_folder_and_goes_on(
    music: Music, monkeypatch: pytest.MonkeyPatch
):
    # Root reads every folder, so the refusal is simulated at os.scandir.
    music.album(music.flac, "Locked/A")
    music.album(music.flac, "Open/B")
    locked = str(music.flac / "Locked")
    refuse(monkeypatch, music.flac / "Locked")
    scan = mirror_scan.scan_source(str(music.flac), 2)

    assert scan.entries == {"Open/B": str(music.flac / "Open" / "B")}
    assert scan.unreadable == [locked]
    assert scan.problems == [f"cannot read {locked}: Permission denied"]
