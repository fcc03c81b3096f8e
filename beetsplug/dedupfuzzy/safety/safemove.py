"""Move files without ever overwriting or losing one.

Every function here takes and returns bytes paths, like the rest of beets.
A move never replaces an existing file: on the same filesystem it hard-links
the source to the destination (which fails atomically when the name is
taken) and only then unlinks the source; across filesystems it copies into a
temporary file in the destination folder, fsyncs it, links it to the final
name, unlinks the source and only then the temporary file. At any instant
the data therefore exists at the source, at the destination, or (briefly) at
both; never nowhere. A failed move leaves the source untouched and no
temporary file.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable

from beets import config as beets_config
from beets import util

from ..display import shown

PARTIAL_PREFIX = b".dedupfuzzy-partial-"
"""Name prefix of the temporary copies made by a move across filesystems."""

_NO_HARDLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
_COPY_CHUNK = 1 << 20
_MAX_ATTEMPTS = 1000
# Keeps "<prefix><name>.<random>" below the usual 255-byte name limit.
_PARTIAL_NAME_BYTES = 120


class SafeMoveError(OSError):
    """A move that did not happen; the message is one line for people."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DestinationTaken(SafeMoveError):
    """The exact destination name exists already; nothing was moved."""


def _show(path: bytes) -> str:
    return shown(path)


def _failure(verb: str, src: bytes, dst: bytes, exc: OSError) -> SafeMoveError:
    reason = exc.strerror or str(exc)
    return SafeMoveError(
        f"cannot {verb} {_show(src)} to {_show(dst)}: {reason}", exc.errno
    )


def free_destination(dest: bytes) -> bytes:
    """Return `dest` if nothing is there, else the first free "name.N.ext"."""
    if not os.path.lexists(util.syspath(dest)):
        return dest
    stem, ext = os.path.splitext(dest)
    for number in range(1, _MAX_ATTEMPTS * 100):
        candidate = b"%s.%d%s" % (stem, number, ext)
        if not os.path.lexists(util.syspath(candidate)):
            return candidate
    raise SafeMoveError(f"no free name next to {_show(dest)}", errno.EEXIST)


def partial_prefix(dst: bytes) -> bytes:
    """Return the name prefix of temporary copies made while moving to `dst`."""
    return PARTIAL_PREFIX + os.path.basename(dst)[:_PARTIAL_NAME_BYTES] + b"."


def leftover_partials(dst: bytes) -> list[bytes]:
    """List temporary copies left next to `dst` by an interrupted move to it."""
    folder = os.path.dirname(dst)
    prefix = partial_prefix(dst)
    try:
        names = os.listdir(util.syspath(folder))
    except OSError:
        return []
    found = []
    for name in map(os.fsencode, names):
        # The random tail has no dot: a partial of "a.mp3.x" is not ours.
        if name.startswith(prefix) and b"." not in name[len(prefix) :]:
            found.append(os.path.join(folder, name))
    return sorted(found)


def same_file(first: bytes, second: bytes) -> bool:
    """Return whether two existing paths name the very same file (inode)."""
    try:
        return os.path.samefile(util.syspath(first), util.syspath(second))
    except OSError:
        return False


def move_file(src: bytes, dst: bytes) -> bytes:
    """Move `src` to `dst`, or to a free variant of it; return the final path.

    Never overwrites: if `dst` is taken, even by a file appearing while the
    move runs, the next free "name.N.ext" is used.
    """
    for _ in range(_MAX_ATTEMPTS):
        candidate = free_destination(dst)
        try:
            move_exact(src, candidate)
        except DestinationTaken:
            continue
        return candidate
    raise SafeMoveError(f"no free name next to {_show(dst)}", errno.EEXIST)


def move_recorded(
    src: bytes,
    dst: bytes,
    retarget: Callable[[], bytes],
    record: Callable[[bytes], None],
) -> bytes:
    """Move `src` to exactly `dst`; if that name is taken, to `retarget()`.

    Each new name is passed to `record` (the journal commits it) *before*
    the attempt, so a record always names the one place the file can be.
    Returns the final path.
    """
    for _ in range(_MAX_ATTEMPTS):
        try:
            move_exact(src, dst)
        except DestinationTaken:
            dst = retarget()
            record(dst)
            continue
        return dst
    raise SafeMoveError(f"no free name next to {_show(dst)}", errno.EEXIST)


def move_exact(src: bytes, dst: bytes) -> None:
    """Move `src` to exactly `dst`, creating its folders; never overwrite.

    Raises `DestinationTaken` if `dst` exists and `SafeMoveError` for any
    other failure; in both cases `src` is left untouched.

    While both `src` and `dst` exist (an interrupted move), `dst` is provably
    this move's work: either a hard link of `src`, or a copy that still has
    a hard link among `leftover_partials(dst)`, because across filesystems
    the temporary copy is unlinked only after `src`.
    """
    if not os.path.lexists(util.syspath(src)):
        raise SafeMoveError(
            f"cannot move {_show(src)}: it does not exist", errno.ENOENT
        )
    folder = os.path.dirname(dst)
    try:
        os.makedirs(util.syspath(folder), exist_ok=True)
    except OSError as exc:
        raise _failure("move", src, dst, exc) from exc
    try:
        os.link(util.syspath(src), util.syspath(dst), follow_symlinks=False)
    except FileExistsError:
        raise _taken(dst) from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _move_across(src, dst)
        elif exc.errno in _NO_HARDLINKS:
            _rename_no_clobber(src, dst)
        else:
            raise _failure("move", src, dst, exc) from exc
        return
    _fsync_dir(folder)
    _unlink_source(src, dst)


def _taken(dst: bytes) -> DestinationTaken:
    return DestinationTaken(f"{_show(dst)} exists already", errno.EEXIST)


def _rename_no_clobber(src: bytes, dst: bytes) -> None:
    """Rename where hard links are unsupported, after an existence check."""
    if os.path.lexists(util.syspath(dst)):
        raise _taken(dst)
    try:
        os.rename(util.syspath(src), util.syspath(dst))
    except OSError as exc:
        raise _failure("move", src, dst, exc) from exc
    _fsync_dir(os.path.dirname(dst))


def _move_across(src: bytes, dst: bytes) -> None:
    """Copy durably to a temporary file, link it to `dst`, drop `src`."""
    tmp = _durable_copy(src, dst)
    try:
        try:
            _place(tmp, dst)
        except OSError as exc:
            if isinstance(exc, SafeMoveError):
                raise
            raise _failure("move", src, dst, exc) from exc
        _fsync_dir(os.path.dirname(dst))
        _unlink_source(src, dst)
    finally:
        _discard(tmp)


def _durable_copy(src: bytes, dst: bytes) -> bytes:
    """Copy `src` into a fsynced temporary file next to `dst`; return it."""
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=os.fsdecode(partial_prefix(dst)),
            dir=util.syspath(os.path.dirname(dst)),
        )
    except OSError as exc:
        raise _failure("copy", src, dst, exc) from exc
    tmp = os.fsencode(tmp_name)
    try:
        with open(fd, "wb") as out, open(util.syspath(src), "rb") as inp:
            shutil.copyfileobj(inp, out, _COPY_CHUNK)
            out.flush()
            shutil.copystat(util.syspath(src), tmp_name)
            os.fsync(out.fileno())
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise _failure("copy", src, dst, exc) from exc
        raise
    return tmp


def _place(tmp: bytes, dst: bytes) -> None:
    """Give the finished temporary copy its final name, never clobbering."""
    try:
        os.link(util.syspath(tmp), util.syspath(dst))
    except FileExistsError:
        raise _taken(dst) from None
    except OSError as exc:
        if exc.errno not in _NO_HARDLINKS:
            raise
        _rename_no_clobber(tmp, dst)


def _discard(path: bytes) -> None:
    """Remove a temporary file if it is still there."""
    if os.path.lexists(util.syspath(path)):
        try:
            os.unlink(util.syspath(path))
        except OSError:
            pass  # A leftover partial is cleaned up by recovery.


def _unlink_source(src: bytes, dst: bytes) -> None:
    """Drop `src` once `dst` holds the data; undo the move if that fails."""
    try:
        os.unlink(util.syspath(src))
    except OSError as exc:
        # While the source is still there, `dst` is only our own link or
        # copy of it: removing that restores the state before the move.
        if os.path.lexists(util.syspath(src)):
            try:
                os.unlink(util.syspath(dst))
            except OSError:
                pass
        raise _failure("move", src, dst, exc) from exc
    _fsync_dir(os.path.dirname(src))


def _fsync_dir(folder: bytes) -> None:
    """Make a folder's entries durable; a no-op where that is unsupported."""
    try:
        fd = os.open(util.syspath(folder or b"."), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def prune_empty_dirs(start: bytes, root: bytes) -> None:
    """Remove empty folders from `start` upwards, never `root` or beyond it.

    beets' own `prune_dirs`, with the user's `clutter` list, as beets prunes
    after its own moves.
    """
    util.prune_dirs(start, root, clutter=beets_config["clutter"].as_str_seq())
