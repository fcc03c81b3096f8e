"""The `beet mirror` command: options, the entry -> plan -> apply pipeline, output.

Library mode (the default, ``mirror_library``) reads the entries from the
library's items; directory mode reads them from two source folders. Either
way :func:`mirror_views` takes it from there: it reads the views, plans,
and either prints the plan (``--pretend``) or applies it, then prints a
summary line. :func:`run_mirror` first merges two sides of entries into the
"high" and "low" views, as directory mode needs.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

import confuse
from beets.ui import Subcommand, UserError, print_

from .. import settings
from .apply import apply_plan
from .plan import (
    Action,
    ActionKind,
    DesiredViews,
    Entries,
    MirrorPlan,
    ViewSpec,
    choose_views,
    plan_mirror,
)
from .scan import scan_source, scan_view

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
        "\nthe views: 'high' shows its best copy, 'low' its best lossy copy."
        "\nQUERY narrows the items. With --source-high/--source-low, links the"
        "\nfolders N levels below two source folders instead (directory mode)."
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
        help="replace links that point outside the sources",
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
        run_directory_mode(plugin._log, options)

    cmd.func = func
    return cmd


def run_directory_mode(log, options: MirrorOptions) -> MirrorRun:
    """Read both source folders and mirror them into the views."""
    roots = {
        side: _root(path, options.relative) for side, path in options.sources.items()
    }
    for side, root in roots.items():
        if not os.path.isdir(root):
            what = "is not a folder" if os.path.exists(root) else "does not exist"
            raise UserError(f"mirror: the {side} source {root} {what}")
    owned = {p for root in roots.values() for p in (root, os.path.realpath(root))}
    views = check_views(options, owned)
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
            log.warning("{}", problem)
        for path in scan.skipped_links:
            log.debug("not following the symlinked folder {}", path)
        uncertain.extend(scan.unreadable)
        entries[side] = scan.entries
        log.debug("{} entries in the {} source {}", len(scan.entries), side, root)
    return mirror_views(
        log,
        options,
        choose_views(entries["high"], entries["low"]),
        owned_roots=owned,
        uncertain=uncertain,
    )


def run_mirror(
    log,
    options: MirrorOptions,
    entries_high: Entries,
    entries_low: Entries,
    *,
    owned_roots: Collection[str],
    uncertain: Collection[str] = (),
) -> MirrorPlan:
    """Mirror two sides of entries into the configured views.

    Each side maps a path relative to the views (``str``, joined with
    ``os.sep``; decode beets' bytes paths with ``os.fsdecode``) to an
    absolute target path. Links pointing into ``owned_roots`` belong to the
    mirror; links into ``uncertain`` folders (sources that could not be read)
    are kept even when no entry asks for them. The views come from
    ``options``; with ``options.pretend`` the plan is printed and nothing
    changes. Fatal misconfiguration raises ``UserError``.
    """
    desired = choose_views(entries_high, entries_low)
    return mirror_views(
        log, options, desired, owned_roots=owned_roots, uncertain=uncertain
    ).plan


@dataclass(frozen=True)
class MirrorRun:
    """What one mirror run planned, and its summary line as printed."""

    plan: MirrorPlan
    summary: str
    failed: int = 0


def mirror_views(
    log,
    options: MirrorOptions,
    desired: DesiredViews,
    *,
    owned_roots: Collection[str],
    uncertain: Collection[str] = (),
) -> MirrorRun:
    """Bring the configured views to what ``desired`` says they should hold.

    See :func:`run_mirror` for ``owned_roots`` and ``uncertain``. With
    ``options.pretend`` the plan is printed and nothing changes.
    """
    views = check_views(options, owned_roots)
    specs = []
    for name, root in views.items():
        state, problems = scan_view(root)
        if "" in state.unreadable:
            raise UserError(f"mirror: cannot read the {name} view {root}")
        for problem in problems:
            log.warning("{}", problem)
        specs.append(ViewSpec(name, root, getattr(desired, name), state))
    plan = plan_mirror(
        specs,
        owned_roots=owned_roots,
        relative=options.relative,
        overwrite_symlinks=options.overwrite_symlinks,
        uncertain=uncertain,
    )
    for action in plan.problems:
        log.warning("{}", action.describe())
    if options.pretend:
        for action in plan.changes:
            print_(action.describe())
        summary = _summary(plan.changes, plan, failed=0, pretend=True)
        print_(summary)
        return MirrorRun(plan, summary)
    report = apply_plan(
        plan,
        on_done=lambda action: log.debug("{}", action.describe()),
        on_failed=lambda action, why: log.warning(
            "could not {} {}:{}: {}", action.kind.value, action.view, action.rel, why
        ),
    )
    summary = _summary(report.done, plan, failed=len(report.failed), pretend=False)
    print_(summary)
    return MirrorRun(plan, summary, len(report.failed))


def check_views(options: MirrorOptions, owned_roots: Collection[str]) -> dict[str, str]:
    """The view roots to build, normalised; fatal mistakes raise UserError.

    A view must not hold a source, nor the other view: reading it would take
    the source's own links for the mirror's.
    """
    views = {
        name: _root(path, options.relative) for name, path in options.views.items()
    }
    if not views:
        raise UserError(
            "mirror: no views configured; pass --high and/or --low"
            " (or set mirror.high/mirror.low)"
        )
    for name, root in views.items():
        if os.path.exists(root) and not os.path.isdir(root):
            raise UserError(f"mirror: the {name} view {root} is a file, not a folder")
        for source in owned_roots:
            if _within(source, root):
                raise UserError(
                    f"mirror: the {name} view {root} holds the source {source};"
                    " put the views outside the sources"
                )
        for other, other_root in views.items():
            if other != name and _within(other_root, root):
                raise UserError(
                    f"mirror: the {name} view {root} holds the {other} view"
                )
    return views


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, comparing real paths."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _root(path: str, relative: bool) -> str:
    # Relative links are computed between real paths, so that a symlinked
    # folder on the way cannot make them resolve somewhere else.
    return os.path.realpath(path) if relative else os.path.abspath(path)


def _summary(
    done: list[Action], plan: MirrorPlan, *, failed: int, pretend: bool
) -> str:
    def count(kind: ActionKind) -> int:
        return sum(1 for action in done if action.kind is kind)

    parts = [
        f"{count(ActionKind.CREATE)} created",
        f"{count(ActionKind.REPLACE)} replaced",
        f"{count(ActionKind.REMOVE)} removed",
        f"{plan.count(ActionKind.KEEP)} unchanged",
        f"{plan.count(ActionKind.CONFLICT)} conflicts",
    ]
    extras = {
        "foreign links left": plan.count(ActionKind.FOREIGN),
        "empty folders pruned": count(ActionKind.PRUNE),
        "failed": failed,
    }
    parts += [f"{number} {what}" for what, number in extras.items() if number]
    prefix = "mirror (pretend, nothing changed)" if pretend else "mirror"
    return f"{prefix}: " + ", ".join(parts)
