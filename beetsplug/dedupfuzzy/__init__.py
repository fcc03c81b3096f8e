"""Find the same recording across formats by its sound, keep the best copy.

The plugin adds two commands: ``beet dedupfuzzy`` fingerprints the library
with Chromaprint, matches recordings on their raw fingerprint frames and
keeps the best copy of each; ``beet mirror`` builds "high" and "low" symlink
views of a library kept in both lossless and lossy formats.
"""

from __future__ import annotations

from beets.dbcore import types
from beets.plugins import BeetsPlugin

from . import settings
from .cli.command import make_command
from .fingerprinting import freshness
from .importing.hook import ImportHook
from .mirror.command import make_mirror_command
from .safety.guard import RunGuard
from .store.fields import (
    AUDIO_ID,
    BLOCKS,
    CUTOFF,
    FP_COPY,
    FP_MTIME,
    LOSSLESS,
    MATCHED,
    RECORDING,
    SOURCE,
)


class DedupFuzzyPlugin(BeetsPlugin):
    """Wires config, commands and import listeners; the work lives in modules."""

    def __init__(self) -> None:
        super().__init__("dedupfuzzy")
        self.config.add(settings.DEFAULTS)
        settings.mirror_view()
        settings.warn_unknown_keys(self.config, self._log)
        # Before the import hook: its listeners must find the library
        # locked and the journal settled.
        self.guard = RunGuard(self)
        self.import_hook = ImportHook(self)
        writes = freshness.BeetsWrites()
        self.register_listener("write", writes.before)
        self.register_listener("after_write", writes.after)

    item_types = {
        FP_MTIME: types.FLOAT,
        BLOCKS: types.STRING,
        AUDIO_ID: types.STRING,
        FP_COPY: types.STRING,
        MATCHED: types.STRING,
        RECORDING: types.INTEGER,
        LOSSLESS: types.STRING,
        CUTOFF: types.INTEGER,
        SOURCE: types.STRING,
    }

    def commands(self):
        return [make_command(self), make_mirror_command(self)]

    def after_change(self, lib) -> None:
        """Refresh the mirror views after files moved, when `mirror.auto` is on."""
        from .mirror.library import refresh_after_change

        refresh_after_change(lib, self._log)
