"""Run Chromaprint's `fpcalc` on audio files, several at a time.

fpcalc is decode-bound and single-threaded, so one process per core keeps
every core busy; threads are enough to drive them since the work happens in
the child processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from beets import util

FPCALC_ENVVAR = "FPCALC"
MAX_SECONDS = 120
INSTALL_HINT = (
    "fpcalc (Chromaprint) is not installed: install it with "
    "'apt-get install libchromaprint-tools' (Debian/Ubuntu), "
    "'brew install chromaprint' (macOS), or set FPCALC to its path"
)


class FpcalcMissing(RuntimeError):
    """The fpcalc program cannot be run at all."""


@dataclass(frozen=True)
class FpcalcResult:
    """The outcome for one file: a fingerprint, or a one-line error."""

    path: bytes
    duration: float = 0.0
    fingerprint: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def fpcalc_command() -> str:
    """Return the fpcalc executable, or raise `FpcalcMissing`."""
    command = os.environ.get(FPCALC_ENVVAR, "fpcalc")
    found = shutil.which(command)
    if not found:
        raise FpcalcMissing(INSTALL_HINT)
    return found


def _first_error_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("ERROR: ")
    return ""


def fingerprint_file(command: str, path: bytes) -> FpcalcResult:
    """Fingerprint one file; never raises for a bad file."""
    if not os.path.isfile(util.syspath(path)):
        return FpcalcResult(path, error="file not found")
    if os.path.getsize(util.syspath(path)) == 0:
        return FpcalcResult(path, error="empty file")
    try:
        proc = subprocess.run(
            [command, "-length", str(MAX_SECONDS), util.syspath(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        return FpcalcResult(path, error=f"fpcalc could not run: {exc.strerror}")
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
    reason = _first_error_line(proc.stderr) or f"fpcalc exited {proc.returncode}"
    if not fingerprint and proc.returncode in (0, 3):
        reason = "no audio to fingerprint"
    return FpcalcResult(path, error=f"cannot fingerprint: {reason}")


def fingerprint_files(
    paths: Iterable[bytes],
    workers: int,
    on_done: Callable[[FpcalcResult], None] | None = None,
) -> Iterator[FpcalcResult]:
    """Fingerprint many files with `workers` fpcalc processes at once.

    Results come back in completion order; `on_done` is called for each
    (progress display).
    """
    command = fpcalc_command()
    paths = list(paths)
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(lambda p: fingerprint_file(command, p), paths):
            if on_done is not None:
                on_done(result)
            yield result
