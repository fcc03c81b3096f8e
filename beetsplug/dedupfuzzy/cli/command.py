"""The `beet dedupfuzzy` command: options, output, and the actions it takes."""

from __future__ import annotations

import os
import sys
from optparse import OptionParser
from typing import TYPE_CHECKING

from beets import util
from beets.ui import Subcommand, UserError, print_

from ..display import shown
from ..fingerprinting.fpcalc import FpcalcMissing
from ..safety.journal import Journal
from ..safety.places import place_refusal
from ..settings import Settings, load_settings
from ..store import decisions, recordings
from . import prompts

if TYPE_CHECKING:
    from beets.library import Library

    from ..matching.groups import Member, ResolvedGroup
    from ..scan import ScanResult

# The matching, the fingerprinting and numpy are imported when the command
# runs, not here: beets builds every plugin's commands on each start, and
# `beet mirror` or `beet ls` need none of them.


def build_parser(cmd: Subcommand) -> None:
    p: OptionParser = cmd.parser
    p.add_option(
        "-c",
        "--count",
        dest="count",
        action="store_true",
        help="show each group's keeper and its number of copies",
    )
    p.add_option(
        "-f",
        "--format",
        dest="format",
        metavar="FMT",
        help="print each copy with this beets format string",
    )
    p.add_option(
        "--json",
        dest="json",
        action="store_true",
        help="print one JSON document on stdout",
    )
    p.add_option(
        "--report",
        dest="report",
        metavar="FILE.csv",
        help="write a CSV report, one row per copy in a group",
    )
    p.add_option(
        "-m",
        "--move",
        dest="quarantine",
        metavar="DIR",
        help="move the copies not kept into DIR (undo with --undo)",
    )
    p.add_option(
        "-t",
        "--tag",
        dest="tag",
        metavar="KEY=VALUE",
        help="tag the copies not kept instead of moving them",
    )
    p.add_option(
        "-p",
        "--pretend",
        dest="pretend",
        action="store_true",
        help="show what would happen, change nothing",
    )
    p.add_option(
        "--fakes",
        dest="fakes",
        action="store_true",
        help="list every lossless item made from a lossy file (with -f, --json)",
    )
    p.add_option(
        "--undo",
        dest="undo",
        action="store_true",
        help="put back what the last run moved",
    )
    p.add_option(
        "--all",
        dest="undo_all",
        action="store_true",
        help="with --undo: put back what every run moved",
    )


def make_command(plugin) -> Subcommand:
    cmd = Subcommand(
        "dedupfuzzy",
        help="find copies of one recording by their sound; keep the best",
        aliases=("dupf",),
    )
    build_parser(cmd)

    def func(lib: Library, opts, args: list[str]) -> None:
        from .fakes import run_fakes

        # `-m DIR` means: move, into DIR. The `quarantine` key alone (also the
        # import hook's destination) never makes a listing move files.
        if opts.quarantine:
            opts.move = True
        plugin.config.set_args(opts)
        settings = load_settings(plugin.config)
        if opts.undo_all and not opts.undo:
            raise UserError("--all goes with --undo")
        json_out = bool(opts.json) and not opts.undo
        with plugin.guard.command(lib, lambda line: _say(line, json_out)):
            if opts.undo:
                run_undo(lib, bool(opts.undo_all), plugin)
                return
            if opts.fakes:
                run_fakes(lib, args, settings, json_out=json_out)
                return
            run(
                lib,
                args,
                settings,
                plugin,
                json_out=json_out,
                pretend=settings.pretend,
            )

    cmd.func = func
    return cmd


def _say(text: str, json_out: bool) -> None:
    """Messages go to stdout, or to stderr when stdout carries JSON."""
    if json_out:
        print(text, file=sys.stderr)
    else:
        print_(text)


def run_undo(lib: Library, all_runs: bool, plugin) -> None:
    results = Journal(lib).undo(all_runs=all_runs)
    for result in results:
        print_(str(result))
    if not results:
        print_("nothing to undo")
        return
    # Restored items are matched again by the next run: their copies may
    # have changed while they were away.
    recordings.forget(lib, [r.item_id for r in results if r.ok and r.item_id])
    restored = sum(1 for r in results if getattr(r, "ok", True))
    print_(f"undo: {restored} file(s) put back, {len(results) - restored} problem(s)")
    plugin.after_change(lib)
    if restored < len(results):
        raise UserError(f"dedupfuzzy: {len(results) - restored} undo problem(s)")


def _formatter(lib: Library, fmt: str):
    if not fmt:
        return None

    def formatted(m: Member) -> str:
        item = lib.get_item(m.row.id)
        return format(item, fmt) if item is not None else shown(m.row.path)

    return formatted


def summary_of(result: ScanResult) -> dict[str, object]:
    from ..matching.cliques import DUPLICATE

    dup = [g for g in result.groups if g.status == DUPLICATE]
    return {
        "items": result.considered,
        "fingerprinted": result.refresh.computed,
        "unchanged": result.refresh.reused,
        "failed": len(result.refresh.failed),
        "silent": len(result.refresh.quiet),
        "matched": result.matched,
        "duplicate_groups": len(dup),
        "copies_to_drop": sum(len(g.leaving) for g in dup),
        "uncertain": len(result.groups) - len(dup),
    }


def summary_line(s: dict[str, object]) -> str:
    return (
        f"{s['items']} items: {s['fingerprinted']} fingerprinted, "
        f"{s['unchanged']} unchanged, {s['failed']} failed, {s['silent']} silent; "
        f"{s['duplicate_groups']} duplicate groups ({s['copies_to_drop']} copies "
        f"not kept), {s['uncertain']} uncertain"
    )


def run(
    lib: Library,
    query: list[str],
    settings: Settings,
    plugin,
    *,
    json_out: bool,
    pretend: bool,
) -> None:
    from ..safety import actions
    from ..scan import scan
    from . import report
    from .fakes import unchecked_line

    ids = [item.id for item in lib.items(query)] if query else None
    distinct = decisions.load_distinct(lib)
    moving = settings.move and bool(settings.quarantine)
    if settings.move and not settings.quarantine:
        raise UserError("dedupfuzzy: move is on but no quarantine folder is set")
    if moving:
        refusal = place_refusal(
            lib, os.path.expanduser(settings.quarantine).encode(), "the quarantine"
        )
        if refusal:
            raise UserError(f"dedupfuzzy: {refusal}")
    if moving and settings.keep_for_views:
        _say(
            "keeping the best lossless and the best lossy copy of each recording:"
            " the low mirror view shows the lossy ones (set keep: best to drop them)",
            json_out,
        )
    try:
        result = scan(
            lib, ids, settings, distinct=lambda a, b: (min(a, b), max(a, b)) in distinct
        )
    except FpcalcMissing as exc:
        raise UserError(str(exc)) from exc
    skipped = result.refresh.skipped
    for entry in skipped:
        _say(report.skipped_line(entry), json_out)
    for entry in result.refresh.unchecked:
        _say(unchecked_line(entry), json_out)

    formatted = _formatter(lib, settings.format)
    summary = summary_of(result)
    if json_out:
        print(report.to_json(result.groups, summary, skipped))
    elif settings.count:
        for line in report.count_lines(result.groups, formatted):
            print_(line)
    else:
        for line in report.listing_lines(result.groups, formatted):
            print_(line)
    if settings.report:
        report.write_csv(os.path.expanduser(settings.report), result.groups)
    _say(summary_line(summary), json_out)

    if not (moving or settings.tag):
        return
    leaving = actions.leaving_rows(result.groups)
    leaving += _answers(lib, result.groups, pretend)
    quarantine = (
        util.normpath(os.path.expanduser(settings.quarantine)) if moving else b""
    )
    try:
        plan = actions.plan_actions(
            leaving,
            quarantine=quarantine,
            libdir=lib.directory,
            tag=settings.tag,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if pretend:
        for a in plan:
            _say(f"would {a.describe()}", json_out)
        return
    outcome = actions.apply_actions(
        lib, plan, Journal(lib), lambda line: plugin._log.info("{}", line)
    )
    if outcome.moved:
        _say(
            f"moved {outcome.moved} file(s) to {shown(quarantine)} "
            "(undo with: beet dedupfuzzy --undo)",
            json_out,
        )
    if outcome.tagged:
        _say(f"tagged {outcome.tagged} item(s) with {settings.tag}", json_out)
    if outcome.moved:
        plugin.after_change(lib)
    if outcome.failed:
        # The rest was done; the lines above say what failed and why.
        raise UserError(f"dedupfuzzy: {outcome.failed} of {len(plan)} action(s) failed")


def _answers(lib: Library, groups: list[ResolvedGroup], pretend: bool) -> list:
    """Ask about uncertain pairs when a human is there; return what leaves."""
    from ..matching.cliques import DUPLICATE
    from ..safety import actions

    going = {row.id for row in actions.leaving_rows(groups)}
    # A pair one of whose copies leaves anyway needs no answer.
    uncertain = [
        g
        for g in groups
        if g.status != DUPLICATE and not going & {m.row.id for m in g.members}
    ]
    if not uncertain or pretend or not prompts.can_prompt():
        return []
    leaving = []
    for g in uncertain:
        # The copy added first is the "old" one, as at import.
        old, new = sorted(g.members[:2], key=lambda m: m.row.id)
        pair = g.members[1]
        answer = prompts.ask(
            f"Uncertain match: similarity {pair.similarity:.2f}, "
            f"offset {pair.offset:+.2f}s",
            [_shown(old)],
            _shown(new),
        )
        if answer == prompts.NEW:
            leaving.append(old.row)
        elif answer == prompts.OLD:
            leaving.append(new.row)
        elif answer == prompts.BOTH:
            decisions.mark_distinct(lib, old.row.id, new.row.id)
    return leaving


def _shown(m: Member) -> str:
    from . import report

    return (
        f"{report.describe(m, True)}  {prompts.size_of(m.row.path)}  "
        f"{util.displayable_path(m.row.path)}"
    )
