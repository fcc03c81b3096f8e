"""Bringing the views to what they should show: check, plan, apply, record.

Both modes end here. :func:`check_views` refuses view folders that would
mix the mirror's links with the music; :func:`mirror_views` reads each view
and the ownership record, plans, prints the plan (``--pretend``) or applies
it, records the links it made and prints one summary line.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from beets.library import Library
from beets.ui import UserError, print_

from ..display import one_line, shown
from ..safety.places import INSIDE, items_conflict, within
from .apply import apply_plan
from .model import Action, ActionKind, DesiredViews, MirrorPlan, ViewSpec, ViewState
from .narrowing import ViewPart, narrow
from .plan import plan_mirror
from .record import LinkRecord, ViewKey, ViewRows, record_after
from .scan import scan_view


@dataclass(frozen=True)
class Territory:
    """Folders the views must stay out of (and must not hold).

    ``sources`` are directory mode's source folders, ``libdir`` the library
    directory, ``item_folders`` the folders holding library items (an
    in-place library's music lives outside the library directory).
    """

    sources: Mapping[str, str] = field(default_factory=dict)
    libdir: str = ""
    item_folders: Collection[str] = ()


@dataclass(frozen=True)
class MirrorRun:
    """What one mirror run planned, and its summary line as printed."""

    plan: MirrorPlan
    summary: str
    failed: int = 0
    # The views hold exactly what was planned, every link recorded (see
    # `stamp`): nothing failed, nothing in the way, nothing left elsewhere;
    # for a narrowed run, in the part it planned.
    settled: bool = False
    # How many links the record holds after the run.
    recorded: int = 0


def check_views(views: Mapping[str, str], territory: Territory) -> None:
    """Refuse, with one line, a view that is a file, or lies inside (or
    holds) a source, the library directory, a folder of library items or
    the other view: its links would mix with the music.
    """
    if not views:
        raise UserError(
            "mirror: no views configured; pass --high and/or --low"
            " (or set mirror.high/mirror.low)"
        )
    folders = set(territory.item_folders)
    for name, root in views.items():
        if os.path.exists(root) and not os.path.isdir(root):
            raise UserError(f"mirror: the {name} view {root} is a file, not a folder")
        where = [("the source", path) for path in territory.sources.values()]
        if territory.libdir:
            where.append(("the library directory", territory.libdir))
        where += [(f"the {o} view", r) for o, r in views.items() if o != name]
        for what, path in where:
            if _within(root, path):
                raise UserError(
                    f"mirror: the {name} view {root} is inside {what} {path}"
                )
            if _within(path, root):
                raise UserError(f"mirror: the {name} view {root} holds {what} {path}")
        if folders:
            _check_item_folders(name, root, folders)


def _check_item_folders(name: str, root: str, folders: set[str]) -> None:
    conflict = items_conflict(root, folders)
    if conflict is None:
        return
    how, folder = conflict
    if how == INSIDE:
        raise UserError(
            f"mirror: the {name} view {root} is inside {folder},"
            " a folder of library items"
        )
    raise UserError(f"mirror: the {name} view {root} holds library items ({folder})")


def check_sources(sources: Mapping[str, str]) -> None:
    """Directory mode: refuse one folder (or one inside the other) as both sources."""
    if len(sources) == 2:
        high, low = sources["high"], sources["low"]
        if _within(high, low) or _within(low, high):
            raise UserError(
                f"mirror: the high source {high} and the low source {low}"
                " overlap; give two separate folders"
            )


def mirror_views(
    lib: Library,
    log,
    views: Mapping[str, str],
    desired: DesiredViews,
    *,
    relative: bool = False,
    overwrite_symlinks: bool = False,
    pretend: bool = False,
    items: Mapping[str, Mapping[str, int]] | None = None,
    scope: Collection[str] | None = None,
    scope_items: Collection[int] = (),
    dangling_roots: Collection[str] = (),
    uncertain: Collection[str] = (),
    others_unchanged: bool = False,
) -> MirrorRun:
    """Bring each view (name -> folder) to what ``desired`` says it holds.

    ``items`` gives, per view, the library item each link shows (for the
    ownership record). With ``scope`` (a QUERY run) only what lies at or
    below those entries, and the recorded links of ``scope_items``, is
    planned. ``dangling_roots`` and ``uncertain`` are explained at
    :func:`plan.plan_view`. Links the record holds in a view's former
    folder, or for a view no longer configured, are removed. With
    ``pretend`` the plan is printed and nothing changes. With
    ``others_unchanged`` (a run after a change, which checked them) the
    recorded links outside the scope count as unchanged, as a full run
    would count them.
    """
    record = LinkRecord(lib)
    troubled = False  # something the plan cannot see was in the way
    specs: list[ViewSpec] = []
    # Rows kept under another spelling of a view's folder (a symlink on the
    # way, --relative switched): they move to the folder's current name.
    renamed: dict[ViewKey, ViewRows] = {}
    for name, root in views.items():
        records = dict(record.of(name, root))
        for old in record.old_roots(name, root):
            if os.path.realpath(old) == os.path.realpath(root):
                renamed[ViewKey(name, old)] = record.of(name, old)
                records = {**record.of(name, old), **records}
            elif old not in views.values():
                specs.append(_former_folder(name, old, record, log))
        part = None
        if scope is not None:
            # The links the record says show an item in scope are planned
            # too, wherever they are: the album may have moved.
            shows = {r for r, row in records.items() if row.item in scope_items}
            part = ViewPart({*scope, *shows})
        state, problems = scan_view(root, records, part)
        if "" in state.unreadable:
            raise UserError(f"mirror: cannot read the {name} view {root}")
        for problem in problems:
            troubled = True
            log.warning("{}", one_line(problem))
        spec = ViewSpec(name, root, getattr(desired, name), state, records)
        specs.append(spec if part is None else narrow(spec, part))
    # A view no longer configured keeps none of the mirror's links, as a
    # view's former folder does not (unless its folder is now another view's).
    current = {os.path.realpath(root) for root in views.values()}
    for key in record.dropped(views.keys()):
        if os.path.realpath(key.root) not in current:
            log.info(
                "mirror: the {} view is not configured any more; removing"
                " the mirror's links from {}",
                key.view,
                shown(key.root),
            )
            specs.append(_former_folder(key.view, key.root, record, log))
    plan = plan_mirror(
        specs,
        dangling_roots=dangling_roots,
        relative=relative,
        overwrite_symlinks=overwrite_symlinks,
        uncertain=uncertain,
    )
    for action in plan.problems:
        log.warning("{}", action.describe())
    outside = _outside(specs, record) if others_unchanged else []
    if pretend:
        for action in plan.changes:
            print_(action.describe())
        summary = _summary(
            plan.changes, plan, failed=0, pretend=True, unchanged=len(outside)
        )
        print_(summary)
        return MirrorRun(plan, summary)
    report = apply_plan(
        plan,
        on_done=lambda action: log.debug("{}", action.describe()),
        on_failed=lambda action, why: log.warning(
            "could not {} {}:{}: {}", action.kind.value, action.view, action.rel, why
        ),
    )
    by_view: dict[tuple[str, str], list[Action]] = {}
    for action in plan.actions:
        by_view.setdefault((action.view, action.root), []).append(action)
    items = items or {}
    updates = {key: (rows, {}) for key, rows in renamed.items()}
    keyed = [(ViewKey(spec.name, spec.root), spec) for spec in specs]
    for key, spec in keyed:
        actions = by_view.get((spec.name, spec.root), [])
        after = record_after(spec.records, actions, report, items.get(spec.name, {}))
        # Renamed rows a QUERY run did not plan keep their links.
        for old_key, rows in renamed.items():
            if old_key.view == spec.name:
                after.update(
                    (r, row) for r, row in rows.items() if r not in spec.records
                )
        updates[key] = (dict(spec.records), after)
    record.save(updates)
    summary = _summary(
        report.done,
        plan,
        failed=len(report.failed),
        pretend=False,
        unchanged=len(outside),
    )
    print_(summary)
    settled = not (troubled or report.failed or plan.problems)
    if settled and scope is not None:
        settled = all(len(updates[k][1]) == len(s.desired) for k, s in keyed)
    elif settled:
        wanted = {key: len(s.desired) for key, s in keyed}
        held = {key: len(rows) for key, rows in record.rows.items() if rows}
        settled = held == {key: n for key, n in wanted.items() if n}
    recorded = sum(len(rows) for rows in record.rows.values())
    return MirrorRun(plan, summary, len(report.failed), settled, recorded)


def unchanged_run(plan: MirrorPlan, pretend: bool) -> MirrorRun:
    """A run whose plan keeps every link (``stamp`` said nothing changed)."""
    summary = _summary([], plan, failed=0, pretend=pretend)
    print_(summary)
    return MirrorRun(plan, summary, settled=True)


def _former_folder(name: str, root: str, record: LinkRecord, log) -> ViewSpec:
    """A view's former folder, to empty of the links the mirror made there."""
    log.debug("the {} view moved away from {}", name, root)
    records = record.of(name, root)
    if os.path.isdir(root):
        state, problems = scan_view(root, records)
    else:
        state, problems = ViewState(), []
    for problem in problems:
        log.warning("{}", one_line(problem))
    return ViewSpec(name, root, {}, state, records)


def _within(path: str, folder: str) -> bool:
    """``safety.places.within`` on real paths: a symlink on the way cannot
    hide that a view lies in a source or the library directory.
    """
    return within(os.path.realpath(path), os.path.realpath(folder))


def _outside(specs: list[ViewSpec], record: LinkRecord) -> list[str]:
    """The recorded links of the views outside what the specs plan."""
    found = []
    for spec in specs:
        found += [r for r in record.of(spec.name, spec.root) if r not in spec.records]
    return found


def _summary(
    done: list[Action],
    plan: MirrorPlan,
    *,
    failed: int,
    pretend: bool,
    unchanged: int = 0,
) -> str:
    def count(kind: ActionKind) -> int:
        return sum(1 for action in done if action.kind is kind)

    parts = [
        f"{count(ActionKind.CREATE)} created",
        f"{count(ActionKind.REPLACE)} replaced",
        f"{count(ActionKind.REMOVE)} removed",
        f"{plan.count(ActionKind.KEEP) + unchanged} unchanged",
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
