"""Matrix products on one thread, where numpy's OpenBLAS allows it.

The nearest-profile searches make thousands of small products (the cell
scan) or one (a query): for them OpenBLAS's second thread costs more than it
gives on a busy 2-core machine.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run this thread's matrix products on it alone. The cell scan makes
    thousands of small products, a query one: for them OpenBLAS's second
    thread costs more than it gives on a busy 2-core machine (the cell scan
    of 100,000 tracks: 14 CPU s instead of 1.2; a query of their repetition
    profiles: 1.9-4.7 ms instead of 1.0-1.4). Where numpy's OpenBLAS is not
    found, nothing changes."""
    setter = _blas_threads_setter()
    if setter is None:
        yield
        return
    previous = setter(1)
    try:
        yield
    finally:
        setter(previous)


@functools.cache
def _blas_threads_setter() -> Callable[[int], int] | None:
    """OpenBLAS's per-thread setting (0.3.27 on) in numpy's wheel, if any."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("*openblas*.so*")):
        try:
            setter = ctypes.CDLL(str(path)).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None
