"""Run Chromaprint's `fpcalc` on audio files, several at a time.

fpcalc is decode-bound and single-threaded, so one process per core keeps
every core busy; threads are enough to drive them since the work happens in
the child processes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from beets import util

from ..matching.similarity import HEAD_SECONDS

FPCALC_ENVVAR = "FPCALC"
# fpcalc reads the head matching compares.
MAX_SECONDS = HEAD_SECONDS
INSTALL_HINT = (
    "fpcalc (Chromaprint) is not installed: install it with "
    "'apt-get install libchromaprint-tools' (Debian/Ubuntu), "
    "'brew install chromaprint' (macOS), or set FPCALC to its path"
)


# Why a file cannot take part, as people read it (`Skipped.reason`).
MISSING = "missing"
NOT_A_FILE = "not a file"
EMPTY = "empty file"
NOT_AUDIO = "not audio"
TOO_SHORT = "too short to fingerprint"
UNREADABLE = "unreadable"
SILENT = "silent or nearly constant"


class FpcalcMissing(RuntimeError):
    """The fpcalc program cannot be run at all."""


@dataclass(frozen=True)
class Skipped:
    """A file that cannot take part in matching, and why (one line)."""

    path: bytes
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True)
class FpcalcResult:
    """The outcome for one file: a fingerprint, or why there is none."""

    path: bytes
    duration: float = 0.0
    fingerprint: str = ""
    reason: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason

    @property
    def error(self) -> str:
        """The one-line error ("" when fingerprinted)."""
        return str(self.skipped) if self.reason else ""

    @property
    def skipped(self) -> Skipped:
        return Skipped(self.path, self.reason, self.detail)


def classify(stderr_lines: list[str], returncode: int) -> tuple[str, str]:
    """Why fpcalc gave no fingerprint: (reason, fpcalc's own words)."""
    text = " ".join(stderr_lines)
    first = stderr_lines[0] if stderr_lines else f"fpcalc exited {returncode}"
    if "Empty fingerprint" in text:
        return TOO_SHORT, ""
    if "No such file" in text:
        return MISSING, ""
    if "Permission denied" in text:
        return UNREADABLE, "permission denied"
    if "Could not open the input file" in text or "Invalid data" in text:
        return NOT_AUDIO, ""
    return UNREADABLE, first


def fpcalc_command() -> str:
    """Return the fpcalc executable, or raise `FpcalcMissing`."""
    command = os.environ.get(FPCALC_ENVVAR, "fpcalc")
    found = shutil.which(command)
    if not found:
        raise FpcalcMissing(INSTALL_HINT)
    return found


def _error_lines(stderr: bytes) -> list[str]:
    lines = (line.strip() for line in stderr.decode("utf-8", "replace").splitlines())
    return [line.removeprefix("ERROR: ") for line in lines if line]


def unusable(path: bytes) -> Skipped | None:
    """Why `path` cannot be fingerprinted without decoding it, if it cannot."""
    try:
        st = os.stat(util.syspath(path))
    except FileNotFoundError:
        return Skipped(path, MISSING)
    except OSError as exc:
        return Skipped(path, UNREADABLE, (exc.strerror or str(exc)).lower())
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, NOT_A_FILE)
    if st.st_size == 0:
        return Skipped(path, EMPTY)
    return None


def fingerprint_file(command: str, path: bytes) -> FpcalcResult:
    """Fingerprint one file; never raises for a bad file."""
    bad = unusable(path)
    if bad is not None:
        return FpcalcResult(path, reason=bad.reason, detail=bad.detail)
    try:
        proc = subprocess.run(
            [command, "-length", str(MAX_SECONDS), util.syspath(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        return FpcalcResult(
            path, reason=UNREADABLE, detail=f"fpcalc could not run: {exc.strerror}"
        )
    duration = 0.0
    fingerprint = ""
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(b"=")
        if key == b"DURATION":
            try:
                duration = float(value)
            except ValueError:
                pass
        elif key == b"FINGERPRINT":
            fingerprint = value.strip().decode("ascii", "replace")
    # Debian's FFmpeg 5 build makes fpcalc exit with 3 ("error decoding
    # audio frame" at end of file) although the fingerprint is complete.
    if fingerprint and proc.returncode in (0, 3):
        return FpcalcResult(path, duration=duration, fingerprint=fingerprint)
    reason, detail = classify(_error_lines(proc.stderr), proc.returncode)
    return FpcalcResult(path, duration=duration, reason=reason, detail=detail)


def fingerprint_files(
    paths: Iterable[bytes],
    workers: int,
    on_done: Callable[[FpcalcResult], None] | None = None,
) -> Iterator[FpcalcResult]:
    """Fingerprint many files with `workers` fpcalc processes at once.

    Results come back in completion order; `on_done` is called for each
    (progress display). fpcalc is looked for only when there is something
    to decode: a warm run needs no fpcalc at all.
    """
    todo = []
    for path in paths:
        bad = unusable(path)
        if bad is None:
            todo.append(path)
            continue
        result = FpcalcResult(path, reason=bad.reason, detail=bad.detail)
        if on_done is not None:
            on_done(result)
        yield result
    if not todo:
        return
    command = fpcalc_command()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(lambda p: fingerprint_file(command, p), todo):
            if on_done is not None:
                on_done(result)
            yield result
