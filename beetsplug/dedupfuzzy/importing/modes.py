"""What the import does with its source files, as beets defines it.

- copy (beets' default; also link, hardlink, reflink): the source is never
  moved, renamed or deleted. A new copy that is not kept is simply not
  imported: its file stays where it is.
- move: beets moves what it imports, and leaves what it does not import
  where it is (as for its own "skip"). A new copy that is not kept is not
  imported, so it stays in the source folder, like a skipped album.
- in place (`copy: no`, `move: no`, no link): the files are the user's own,
  referenced where they are, as in a library `beet dedupfuzzy -m` cleans.
  A new copy that is not kept goes to the quarantine when one is set
  (journaled; `--undo` puts it back into the library), otherwise it is not
  imported.

A library copy that loses against a new one is a file the library owns: it
goes to the quarantine (journaled), in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass

COPY, MOVE, IN_PLACE = "copy", "move", "in place"

# What happens to a copy that leaves during an import.
NOT_IMPORTED = "not imported"
QUARANTINED = "quarantined"


@dataclass(frozen=True)
class ImportMode:
    name: str
    has_quarantine: bool

    @classmethod
    def of(cls, import_config, has_quarantine: bool) -> ImportMode:
        """The mode of beets' `import:` config view."""
        if import_config["move"].get(bool):
            name = MOVE
        elif any(
            import_config[key].get() for key in ("copy", "link", "hardlink", "reflink")
        ):
            name = COPY
        else:
            name = IN_PLACE
        return cls(name, has_quarantine)

    @property
    def new_copy_fate(self) -> str:
        """What happens to an incoming copy that is not kept."""
        if self.name == IN_PLACE and self.has_quarantine:
            return QUARANTINED
        return NOT_IMPORTED
