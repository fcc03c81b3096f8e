"""The per-file work of a refresh, run by one pool of workers.

A file may need a fingerprint (fpcalc), a lossless check (analysis/), or
both; both are decode-bound, so the same threads drive them. A file that
needs both is decoded once where it can be (`inprocess`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..analysis import analyse_file
from ..analysis.verdict import Analysis
from ..quality import is_lossless
from .fpcalc import FpcalcResult, fingerprint_file, fpcalc_command, unusable
from .inprocess import fingerprint_and_analyse


def needs_check(format: str, verdict: str, fingerprinted: bool, enabled: bool) -> bool:
    """Whether a file gets the lossless check: the check is on, the file is
    lossless, and it has no verdict yet or its audio changed (it is being
    fingerprinted anew). The one rule for a scan and for an import."""
    return enabled and is_lossless(format) and (fingerprinted or not verdict)


@dataclass(frozen=True)
class Task:
    """What one file needs."""

    path: bytes
    fingerprint: bool
    analyse: bool
    length: float = 0.0
    samplerate: int = 0


@dataclass(frozen=True)
class Outcome:
    task: Task
    fpcalc: FpcalcResult | None
    analysis: Analysis | None


def do_task(command: str, task: Task) -> Outcome:
    """One file's work; fpcalc's `command` is needed only to fingerprint."""
    if task.fingerprint and task.analyse and unusable(task.path) is None:
        both = fingerprint_and_analyse(task.path, task.length, task.samplerate)
        if both is not None:
            return Outcome(task, *both)
    # a file fpcalc need not decode is answered without it
    fp = fingerprint_file(command, task.path) if task.fingerprint else None
    analysis = None
    if task.analyse and (fp is None or fp.ok):
        length = task.length or (fp.duration if fp else 0.0)
        analysis = analyse_file(task.path, length, task.samplerate)
    return Outcome(task, fp, analysis)


def run_tasks(
    tasks: Iterable[Task],
    workers: int,
    on_done: Callable[[Outcome], None] | None = None,
) -> Iterator[Outcome]:
    """Do every task with `workers` threads; results in task order."""
    tasks = list(tasks)
    # as fingerprint_files: fpcalc is looked for only when there is
    # something to decode, and a file that cannot be read is not decoded
    command = ""
    if any(t.fingerprint and unusable(t.path) is None for t in tasks):
        command = fpcalc_command()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for outcome in pool.map(lambda task: do_task(command, task), tasks):
            if on_done is not None:
                on_done(outcome)
            yield outcome
