"""The memory of a process and all its descendants, sampled while it runs.

`/usr/bin/time` reports the largest resident set of any one process; a run
that forks workers or a second search holds more than that. This sums, over
the whole tree, each process's proportional share of its anonymous memory
(`Pss_Anon` of `/proc/PID/smaps_rollup`): pages shared after a fork count
once, and the page cache of files a run reads (a mapped file's pages) is
not counted, since the system can drop it. Linux only; elsewhere nothing is
sampled.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

# Reading a process's proportional memory walks its page tables: sampled
# every 0.5 s, the 100,000-item first run took 0.7-5.2 s longer (three
# alternating pairs, 9 % on average, its CPU time up as much); every 2 s,
# no longer than unsampled runs. A run's memory stays near its peak for
# seconds (a stage), so 2 s still finds it; a run of 2 s (a warm one), small,
# is sampled every 0.5 s.
INTERVAL = 2.0
FIRST_INTERVAL = 0.5
FIRST_SECONDS = 10.0


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        listing = Path(f"/proc/{pid}/task/{task}/children")
        try:
            found += [int(c) for c in listing.read_text().split()]
        except OSError:
            pass
    return found


def _anonymous_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Samples the tree under `pid` every `INTERVAL` s until stopped; `peak`
    is the largest sum seen, in MiB (None where nothing could be read)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += _children(pid)
            self.peak_kib = max(self.peak_kib, sum(_anonymous_kib(p) for p in tree))
            early = time.monotonic() - start < FIRST_SECONDS
            self._stop.wait(FIRST_INTERVAL if early else INTERVAL)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024 if self.peak_kib else None
