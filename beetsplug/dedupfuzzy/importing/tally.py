"""What the import hook did during one import, for its summary line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    fingerprinted: int = 0
    failed: int = 0
    duplicates: int = 0
    kept: int = 0
    quarantined: int = 0
    not_imported: int = 0
    errors: int = 0
    # (new item id, library item id, similarity) of matches left undecided
    uncertain: list[tuple[int, int, float]] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"dedupfuzzy: {self.fingerprinted} fingerprinted"
            + (f" ({self.failed} failed)" if self.failed else "")
            + f", {self.duplicates} duplicates found: {self.kept} kept, "
            f"{self.quarantined} quarantined, {self.not_imported} not imported; "
            f"{len(self.uncertain)} uncertain"
        )
        if self.errors:
            text += f"; {self.errors} could not be moved"
        if self.quarantined:
            text += " (undo with: beet dedupfuzzy --undo)"
        return text
