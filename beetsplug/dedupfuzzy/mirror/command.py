"""The `beet mirror` command: options, and directory mode.

Library mode (the default, ``mirror.library``) reads the entries from the
library's items; directory mode (here) reads them from two source folders
and merges them as the mmirror script does: the high view shows the high
entry where there is one, else the low one, and the other way round.
Either way ``views.mirror_views`` takes it from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import confuse
from beets.library import Library
from beets.ui import Subcommand, UserError, print_

from .. import settings
from ..display import one_line
from .model import Entries
from .plan import choose_views
from .scan import scan_source
from .views import MirrorRun, Territory, check_sources, check_views, mirror_views

VIEW_NAMES = ("high", "low")


@dataclass(frozen=True)
class MirrorOptions:
    """The `mirror:` configuration, read and checked once."""

    depth: int
    source_high: str | None
    source_low: str | None
    high: str | None
    low: str | None
    relative: bool = False
    follow_symlinks: bool = False
    overwrite_symlinks: bool = False
    pretend: bool = False
    path: str = str(settings.MIRROR_DEFAULTS["path"])

    @property
    def views(self) -> dict[str, str]:
        """The configured views, by name."""
        found = {"high": self.high, "low": self.low}
        return {name: path for name, path in found.items() if path}

    @property
    def sources(self) -> dict[str, str]:
        """The configured source folders, by side."""
        found = {"high": self.source_high, "low": self.source_low}
        return {name: path for name, path in found.items() if path}


def load_mirror_options(view) -> MirrorOptions:
    """Read the `mirror:` view (after `set_args`) into :class:`MirrorOptions`."""
    try:
        depth = int(view["depth"].get(int))
    except confuse.ConfigError as exc:
        raise UserError(f"mirror: depth must be a whole number: {exc}") from None
    if depth < 1:
        raise UserError(f"mirror: depth must be 1 or more, got {depth}")

    def folder(key: str) -> str | None:
        if not view[key].get():
            return None
        return os.path.abspath(view[key].as_filename())

    return MirrorOptions(
        depth=depth,
        source_high=folder("source_high"),
        source_low=folder("source_low"),
        high=folder("high"),
        low=folder("low"),
        relative=bool(view["relative"].get()),
        follow_symlinks=bool(view["follow_symlinks"].get()),
        overwrite_symlinks=bool(view["overwrite_symlinks"].get()),
        pretend=bool(view["pretend"].get()),
        path=view["path"].as_str() or str(settings.MIRROR_DEFAULTS["path"]),
    )


def make_mirror_command(plugin) -> Subcommand:
    """Build the `beet mirror` subcommand for ``plugin``."""
    settings.mirror_view()
    cmd = Subcommand("mirror", help="build high and low symlink views of the library")
    cmd.parser.usage += (
        "\n\nLinks each album (the `mirror.path` template cut at --depth N) into"
        "\nthe views, every recording once: 'high' from its best copy, 'low'"
        "\nfrom its best lossy copy. QUERY refreshes only the albums it matches."
        "\nWith --source-high/--source-low, links the folders N levels below"
        "\ntwo source folders instead (directory mode)."
    )
    add = cmd.parser.add_option
    add(
        "--depth",
        dest="depth",
        type="int",
        metavar="N",
        help="link the folders N levels below the sources (default 2)",
    )
    add(
        "--source-high",
        dest="source_high",
        metavar="DIR",
        help="the high-quality source folder (e.g. FLAC)",
    )
    add(
        "--source-low",
        dest="source_low",
        metavar="DIR",
        help="the low-quality source folder (e.g. MP3)",
    )
    add(
        "--path",
        dest="path",
        metavar="TEMPLATE",
        help="library mode: where an item sits in the views"
        " (default $albumartist/$album/$track $title)",
    )
    add("--high", dest="high", metavar="OUT", help="the high view to build")
    add("--low", dest="low", metavar="OUT", help="the low view to build")
    add(
        "--relative",
        dest="relative",
        action="store_true",
        default=None,
        help="write relative links instead of absolute ones",
    )
    add(
        "--follow-symlinks",
        dest="follow_symlinks",
        action="store_true",
        default=None,
        help="descend into symlinked folders in the sources",
    )
    add(
        "--overwrite-symlinks",
        dest="overwrite_symlinks",
        action="store_true",
        default=None,
        help="take over links the mirror did not make where it needs the path",
    )
    add(
        "-p",
        "--pretend",
        "--simulate",
        dest="pretend",
        action="store_true",
        default=None,
        help="print the plan, change nothing",
    )

    def func(lib, opts, args: list[str]) -> None:
        with plugin.guard.command(lib, print_):
            mirror(lib, opts, args)

    def mirror(lib, opts, args: list[str]) -> None:
        view = settings.mirror_view()
        view.set_args(opts)
        options = load_mirror_options(view)
        if not options.sources:
            # mirror_library builds on this module, so it is imported here.
            from .library import run_library_mode

            run_library_mode(lib, plugin._log, options, args)
            return
        if args:
            raise UserError(
                "mirror: a QUERY selects library items; directory mode"
                " (--source-high/--source-low) takes none"
            )
        run_directory_mode(lib, plugin._log, options)

    cmd.func = func
    return cmd


def run_directory_mode(lib: Library, log, options: MirrorOptions) -> MirrorRun:
    """Read both source folders and mirror them into the views."""
    roots = {
        side: _root(path, options.relative) for side, path in options.sources.items()
    }
    for side, root in roots.items():
        if not os.path.isdir(root):
            what = "is not a folder" if os.path.exists(root) else "does not exist"
            raise UserError(f"mirror: the {side} source {root} {what}")
    check_sources(roots)
    views = view_roots(options)
    check_views(views, Territory(sources=roots, libdir=os.fsdecode(lib.directory)))
    skip = {p for out in views.values() for p in (out, os.path.realpath(out))}
    entries: dict[str, Entries] = {"high": {}, "low": {}}
    uncertain: list[str] = []
    for side, root in roots.items():
        scan = scan_source(
            root, options.depth, follow_symlinks=options.follow_symlinks, skip=skip
        )
        if root in scan.unreadable:
            raise UserError(f"mirror: cannot read the {side} source {root}")
        for problem in scan.problems:
            log.warning("{}", one_line(problem))
        for path in scan.skipped_links:
            log.debug("not following the symlinked folder {}", path)
        uncertain.extend(scan.unreadable)
        entries[side] = scan.entries
        log.debug("{} entries in the {} source {}", len(scan.entries), side, root)
    return mirror_views(
        lib,
        log,
        views,
        choose_views(entries["high"], entries["low"]),
        relative=options.relative,
        overwrite_symlinks=options.overwrite_symlinks,
        pretend=options.pretend,
        dangling_roots={p for r in roots.values() for p in (r, os.path.realpath(r))},
        uncertain=uncertain,
    )


def view_roots(options: MirrorOptions) -> dict[str, str]:
    """The configured view folders by name, normalised as links need them."""
    return {name: _root(path, options.relative) for name, path in options.views.items()}


def _root(path: str, relative: bool) -> str:
    # Relative links are computed between real paths, so that a symlinked
    # folder on the way cannot make them resolve somewhere else.
    return os.path.realpath(path) if relative else os.path.abspath(path)
