"""Before any command or import of the plugin: lock the library, settle the journal.

`RunGuard.command` wraps a command: it takes the library lock (see `lock`),
settles every interrupted move (see `recovery`) before the command reads the
library, and turns a database that stayed busy past beets' `timeout` into
one line instead of a traceback. For `beet import`, the same happens at
`import_begin`, before beets reads a file or touches the library; the lock
is then held until the process ends (the system drops it however it ends),
so the hook's moves at the end of the import are covered too. A command
runs with the cycle collector's full collections put off (see `heap`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from beets.ui import UserError

from .. import heap
from ..settings import load_settings
from . import recovery, schema
from .lock import LibraryLock

if TYPE_CHECKING:
    from beets.library import Library


def settle_first(lib: Library, say: Callable[[str], None]) -> None:
    """Settle the journal's unfinished moves; one line for each."""
    schema.create_tables(lib)
    for line in recovery.recover(lib):
        say(line)


class RunGuard:
    """The plugin's lock and recovery, for its commands and for imports."""

    def __init__(self, plugin) -> None:
        self.plugin = plugin
        plugin.register_listener("import_begin", self.import_begin)

    def _lock(self, lib: Library) -> LibraryLock:
        wait = load_settings(self.plugin.config).lock_wait
        return LibraryLock(lib.path, wait)

    @contextmanager
    def command(self, lib: Library, say: Callable[[str], None]) -> Iterator[None]:
        """Run a command's body with the library locked and the journal settled."""
        try:
            with self._lock(lib).held(), heap.full_collections_deferred():
                settle_first(lib, say)
                yield
        except sqlite3.OperationalError as exc:
            raise UserError(
                f"dedupfuzzy: the library database is busy or unusable ({exc}); "
                "nothing more was changed, run the command again"
            ) from exc

    def import_begin(self, session) -> None:
        """Lock for the whole import and settle the journal before it starts."""
        lib = session.lib
        self._lock(lib).acquire()
        settle_first(lib, lambda line: self.plugin._log.warning("{}", line))
