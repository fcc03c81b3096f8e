"""Moving files without overwriting or losing them, on real temp folders."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from beetsplug.dedupfuzzy.safety import safemove


def b(path: Path) -> bytes:
    return os.fsencode(path)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def partials(folder: Path) -> list[str]:
    return [
        p.name
        for p in folder.rglob("*")
        if p.name.startswith(os.fsdecode(safemove.PARTIAL_PREFIX))
    ]


@pytest.fixture
def fake_exdev(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every link of a real file fail as if it crossed filesystems.

    Links of the move's own temporary copy still work, as they would on the
    destination filesystem.
    """
    real_link = os.link

    def link(src, dst, *args, **kwargs):
        if not os.path.basename(os.fsencode(src)).startswith(safemove.PARTIAL_PREFIX):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)


# free_destination


def test_free_destination_is_dest_when_nothing_is_there(tmp_path: Path) -> None:
    assert safemove.free_destination(b(tmp_path / "a.flac")) == b(tmp_path / "a.flac")


def test_free_destination_numbers_taken_names(tmp_path: Path) -> None:
    write(tmp_path / "a.flac", b"1")
    write(tmp_path / "a.1.flac", b"2")
    assert safemove.free_destination(b(tmp_path / "a.flac")) == b(tmp_path / "a.2.flac")


def test_free_destination_without_extension(tmp_path: Path) -> None:
    write(tmp_path / "track", b"1")
    assert safemove.free_destination(b(tmp_path / "track")) == b(tmp_path / "track.1")


def test_free_destination_counts_a_dangling_symlink_as_taken(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.mp3").symlink_to(tmp_path / "nowhere")
    assert safemove.free_destination(b(tmp_path / "a.mp3")) == b(tmp_path / "a.1.mp3")


# move_file on one filesystem


def test_move_on_same_filesystem(tmp_path: Path) -> None:
    src = write(tmp_path / "music" / "a.flac", b"audio")
    dst = tmp_path / "quarantine" / "deep" / "a.flac"

    final = safemove.move_file(b(src), b(dst))

    assert final == b(dst)
    assert dst.read_bytes() == b"audio"
    assert not src.exists()


def test_move_never_overwrites(tmp_path: Path) -> None:
    src = write(tmp_path / "a.flac", b"mine")
    taken = write(tmp_path / "q" / "a.flac", b"someone else's")

    final = safemove.move_file(b(src), b(taken))

    assert final == b(tmp_path / "q" / "a.1.flac")
    assert taken.read_bytes() == b"someone else's"
    assert Path(os.fsdecode(final)).read_bytes() == b"mine"
    assert not src.exists()


def test_move_exact_refuses_a_taken_name(tmp_path: Path) -> None:
    src = write(tmp_path / "a.flac", b"mine")
    taken = write(tmp_path / "q" / "a.flac", b"theirs")

    with pytest.raises(safemove.DestinationTaken):
        safemove.move_exact(b(src), b(taken))

    assert src.read_bytes() == b"mine"
    assert taken.read_bytes() == b"theirs"


def test_move_keeps_mtime(tmp_path: Path) -> None:
    src = write(tmp_path / "a.flac", b"x")
    os.utime(src, (1_000_000, 1_000_000))
    final = safemove.move_file(b(src), b(tmp_path / "q" / "a.flac"))
    assert os.stat(final).st_mtime == 1_000_000


def test_missing_source_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(safemove.SafeMoveError) as caught:
        safemove.move_file(b(tmp_path / "gone.flac"), b(tmp_path / "q.flac"))
    assert isinstance(caught.value, OSError)
    assert "\n" not in str(caught.value)
    assert "gone.flac" in str(caught.value)


def test_failed_source_unlink_puts_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "a.flac", b"mine")
    dst = tmp_path / "q" / "a.flac"
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if os.fsencode(path) == b(src):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(safemove.SafeMoveError, match="Permission denied"):
        safemove.move_file(b(src), b(dst))

    assert src.read_bytes() == b"mine"
    assert not dst.exists()


def test_without_hard_links_falls_back_to_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    src = write(tmp_path / "a.flac", b"mine")
    taken = write(tmp_path / "q" / "a.flac", b"theirs")

    final = safemove.move_file(b(src), b(taken))

    assert final == b(tmp_path / "q" / "a.1.flac")
    assert taken.read_bytes() == b"theirs"
    assert Path(os.fsdecode(final)).read_bytes() == b"mine"
    assert not src.exists()


# move_file across filesystems


@pytest.mark.usefixtures("fake_exdev")
def test_move_across_filesystems_copies_durably(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = write(tmp_path / "music" / "a.flac", data)
    os.utime(src, (1_000_000, 1_000_000))
    dst = tmp_path / "q" / "sub" / "a.flac"

    final = safemove.move_file(b(src), b(dst))

    assert final == b(dst)
    assert dst.read_bytes() == data
    assert os.stat(dst).st_mtime == 1_000_000
    assert not src.exists()
    assert partials(tmp_path) == []


@pytest.mark.usefixtures("fake_exdev")
def test_move_across_never_overwrites_a_name_taken_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "a.flac", b"mine")
    dst = tmp_path / "q" / "a.flac"
    faked_link = os.link

    def link_after_a_rival(source, target, *args, **kwargs):
        if os.fsencode(target) == b(dst) and not dst.exists():
            write(dst, b"rival")  # appears while our copy is being written
        return faked_link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", link_after_a_rival)
    final = safemove.move_file(b(src), b(dst))

    assert final == b(tmp_path / "q" / "a.1.flac")
    assert dst.read_bytes() == b"rival"
    assert Path(os.fsdecode(final)).read_bytes() == b"mine"
    assert not src.exists()
    assert partials(tmp_path) == []


@pytest.mark.usefixtures("fake_exdev")
def test_failed_copy_leaves_source_and_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "a.flac", b"x" * 100_000)
    dst = tmp_path / "q" / "a.flac"

    def disk_full(source, target, length=0):
        target.write(source.read(1000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", disk_full)
    with pytest.raises(safemove.SafeMoveError) as caught:
        safemove.move_file(b(src), b(dst))

    assert "No space left on device" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert src.read_bytes() == b"x" * 100_000
    assert not dst.exists()
    assert partials(tmp_path) == []


def test_move_to_a_real_other_filesystem(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at hand")
    src = write(tmp_path / "a.flac", b"across")
    target_dir = shm / f"dedupfuzzy-test-{os.getpid()}-{tmp_path.name}"
    try:
        final = safemove.move_file(b(src), b(target_dir / "a.flac"))
        assert Path(os.fsdecode(final)).read_bytes() == b"across"
        assert not src.exists()
        assert partials(target_dir) == []
    finally:
        shutil.rmtree(target_dir, ignore_errors=True)


# helpers for recovery


def test_same_file_and_leftover_partials(tmp_path: Path) -> None:
    a = write(tmp_path / "a.flac", b"x")
    os.link(a, tmp_path / "b.flac")
    write(tmp_path / "c.flac", b"x")
    partial = write(
        tmp_path / os.fsdecode(safemove.partial_prefix(b(a)) + b"xyz"), b"p"
    )
    write(tmp_path / os.fsdecode(safemove.PARTIAL_PREFIX + b"other.flac.1"), b"p")
    longer = safemove.partial_prefix(b(tmp_path / "a.flac.x")) + b"xyz"
    write(tmp_path / os.fsdecode(longer), b"p")

    assert safemove.same_file(b(a), b(tmp_path / "b.flac"))
    assert not safemove.same_file(b(a), b(tmp_path / "c.flac"))
    assert not safemove.same_file(b(a), b(tmp_path / "missing"))
    assert safemove.leftover_partials(b(a)) == [b(partial)]


# prune_empty_dirs


def test_prune_removes_empty_folders_up_to_root(tmp_path: Path) -> None:
    root = tmp_path / "music"
    (root / "artist" / "album" / "cd1").mkdir(parents=True)
    write(root / "keep.txt", b"")

    safemove.prune_empty_dirs(b(root / "artist" / "album" / "cd1"), b(root))

    assert not (root / "artist").exists()
    assert root.is_dir()


def test_prune_stops_at_a_folder_with_content(tmp_path: Path) -> None:
    root = tmp_path / "music"
    (root / "artist" / "album").mkdir(parents=True)
    write(root / "artist" / "cover.jpg", b"")

    safemove.prune_empty_dirs(b(root / "artist" / "album"), b(root))

    assert not (root / "artist" / "album").exists()
    assert (root / "artist" / "cover.jpg").exists()


def test_prune_never_removes_root_or_outside(tmp_path: Path) -> None:
    root = tmp_path / "music"
    root.mkdir()
    outside = tmp_path / "elsewhere" / "empty"
    outside.mkdir(parents=True)

    safemove.prune_empty_dirs(b(root), b(root))
    safemove.prune_empty_dirs(b(outside), b(root))
    safemove.prune_empty_dirs(b(root) + b"/", b(root))

    assert root.is_dir()
    assert outside.is_dir()
