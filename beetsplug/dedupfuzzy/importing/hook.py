"""The import hook: where it plugs into beets' importer.

Questions are asked in beets' own choice flow, so they never interleave
with beets' prompts and the import stays threaded (the hook never touches
`config["threaded"]`):

- when autotagging, at `import_task_choice`: sent right after the user (or
  beets) chose the task's metadata, in the thread where beets asks its own
  questions, for albums and singletons alike, before the items are added.
  (`import_task_before_choice`, which the badfiles plugin uses, is sent for
  albums only and before the match is chosen, so the items a match keeps
  are not known yet.)
- without autotagging (`-A`), beets asks nothing but its duplicate question;
  the hook asks at `import_task_created`, in the thread that reads tasks.

Everything else happens in `run.ImportRun`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from beets import config

from ..fingerprinting.fpcalc import FpcalcMissing
from ..settings import load_settings

if TYPE_CHECKING:
    from .run import ImportRun


class ImportHook:
    """Registers the listeners and the import stage; one `ImportRun` per import."""

    def __init__(self, plugin) -> None:
        self.plugin = plugin
        self.run: ImportRun | None = None
        plugin.register_listener("import_begin", self.begin)
        plugin.register_listener("import_task_created", self.task_created)
        plugin.register_listener("import_task_choice", self.task_choice)
        plugin.register_listener("import_task_files", self.task_files)
        plugin.register_listener("import", self.end)
        plugin.register_listener("cli_exit", self.end)
        plugin.import_stages = [self.stage]

    def begin(self, session) -> None:
        if self.run is not None:
            self.end()
        settings = load_settings(self.plugin.config)
        if not settings.auto or session.config["pretend"].get(bool):
            return
        # Loaded only when an import starts: every other command (`beet
        # mirror`, `beet ls`) would pay for beets' importer and the matching.
        from .run import ImportRun

        try:
            self.run = ImportRun(
                self.plugin, session.lib, settings, session.query is not None
            )
        except FpcalcMissing as exc:
            self.plugin._log.warning("{}; imports are not checked for duplicates", exc)

    def task_created(self, task, session) -> None:
        run = self.run
        if run is None:
            return
        run.task_created(task, session)
        if not config["import"]["autotag"].get(bool) and not task.skip:
            run.ask(task, list(task.items))

    def task_choice(self, task, session) -> None:
        from beets.importer import Action

        run = self.run
        if run is not None and task.choice_flag in (
            Action.ASIS,
            Action.APPLY,
            Action.RETAG,
        ):
            run.ask(task, list(task.imported_items()))

    def stage(self, session, task) -> None:
        if self.run is not None:
            self.run.stage(session, task)

    def task_files(self, task, session) -> None:
        if self.run is not None:
            self.run.task_files(task, session)

    def end(self, **_) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.end()
