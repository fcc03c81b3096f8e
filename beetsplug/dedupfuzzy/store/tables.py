"""What the library DB holds of the plugin's own tables."""

from __future__ import annotations


def has_table(tx, name: str) -> bool:
    """Whether the library DB holds this table (inside a transaction)."""
    return bool(
        tx.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        )
    )
