"""One run of the plugin at a time per library: a lock file beside its database.

Every command of the plugin (`beet dedupfuzzy` in all its forms, `beet
mirror`) and every `beet import` with the plugin loaded holds the lock
while it runs, so two runs never move the same files, write the journal
together or read a library another run is half-way through changing. A
second run waits for the first, saying so after a few seconds, or stops
with one line once `lock_wait` seconds have passed.

The lock is an advisory `flock` on ``<library.db>.dedupfuzzy-lock``: the
system drops it when its process ends, however it ends, so a killed run
never leaves a stale lock behind. The file names the holder (pid and
command line) for the waiting message. Within one process the lock is
re-entrant (an import that refreshes the mirror views takes it again).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from beets.ui import UserError

from ..display import one_line
from ..store.catalog import database_file

NOTICE_AFTER = 3.0
POLL = 0.05
SUFFIX = ".dedupfuzzy-lock"


def lock_path(db_path: str | os.PathLike[str]) -> str | None:
    """Where the lock of the library at `db_path` lives (None: in memory)."""
    path = database_file(db_path)
    return None if path is None else path + SUFFIX


def _this_run() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv else "beet"
    return one_line(" ".join([name, *sys.argv[1:]]))


class LibraryLock:
    """The re-entrant, inter-process lock of one library."""

    _held: dict[str, tuple[int, int]] = {}
    _guard = threading.Lock()

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        wait: float,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.path = lock_path(db_path)
        self.wait = wait
        self.notify = notify or (lambda text: print(text, file=sys.stderr))

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait` seconds; else raise `UserError`."""
        if self.path is None:
            return
        with self._guard:
            held = self._held.get(self.path)
            if held is not None:
                self._held[self.path] = (held[0], held[1] + 1)
                return
        fd = self._open()
        if fd is None:
            return  # No lock file possible (a read-only folder): nothing to share.
        try:
            self._wait_for(fd)
        except BaseException:
            os.close(fd)
            raise
        with suppress(OSError):  # A read-only lock file still locks.
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {_this_run()}\n".encode(), 0)
        with self._guard:
            self._held[self.path] = (fd, 1)

    def _open(self) -> int | None:
        assert self.path is not None
        for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
            try:
                return os.open(self.path, flags, 0o644)
            except OSError:
                continue
        return None

    def release(self) -> None:
        if self.path is None:
            return
        with self._guard:
            held = self._held.get(self.path)
            if held is None:
                return
            fd, count = held
            if count > 1:
                self._held[self.path] = (fd, count - 1)
                return
            del self._held[self.path]
        # Closing the descriptor drops the flock; the file stays for next time.
        os.close(fd)

    def _wait_for(self, fd: int) -> None:
        start = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            waited = time.monotonic() - start
            if waited >= self.wait:
                raise UserError(
                    f"dedupfuzzy: another run is using this library "
                    f"({self._holder(fd)}); try again when it is done"
                )
            if not told and waited >= min(NOTICE_AFTER, self.wait):
                told = True
                self.notify(
                    f"dedupfuzzy: waiting for another run to finish "
                    f"({self._holder(fd)})"
                )
            time.sleep(POLL)

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        pid, _, command = text.partition(" ")
        return f"pid {pid}: {command}" if pid and command else "pid unknown"

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
