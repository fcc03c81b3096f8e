"""The `beet mirror` command (placeholder until the mirror lands)."""

from __future__ import annotations

from beets.ui import Subcommand


def make_mirror_command(plugin) -> Subcommand:
    cmd = Subcommand("mirror", help="build high and low symlink views")
    cmd.func = lambda lib, opts, args: None
    return cmd
