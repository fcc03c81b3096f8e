"""Library mode of `beet mirror`: read the library, choose per recording, mirror.

The steps, each cheap enough for a library of 100,000 items:

1. Read every item and place it under the ``mirror.path`` template
   (``mirror.items``); read each item's recording from the recording model
   (:func:`recordings_of`); set aside items whose file is missing or is not
   a file, one line each.
2. Join entries that share most of their recordings into albums, and
   choose each recording's copy for each view (``mirror.albums``).
3. Hand the views to ``mirror.views`` to plan, apply and record.

`beet mirror` matches nothing itself and runs no fpcalc: which items are
one recording is the model's answer (kept on the items by `beet dedupfuzzy`
and the import hook). The library is the truth: links point where the items
say their files are; the ownership record says which links are the
mirror's, wherever the files live.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from beets import config as beets_config
from beets.library import Library
from beets.ui import UserError

from .. import heap, quality, settings
from ..display import shown
from ..store.catalog import load_verdicts
from ..store.fields import LOSSLESS, RECORDING, SOURCE
from . import stamp
from .albums import FolderCensus, LibraryViews, Track, desired_views, join_entries
from .command import MirrorOptions, load_mirror_options, run_directory_mode, view_roots
from .files import real_targets, recordings_of, split_unusable
from .incremental import run_after_change
from .items import PathTemplate
from .ledger import make_ledger
from .model import Action, ActionKind, MirrorPlan
from .stamp import FolderTimes, Stamp
from .views import MirrorRun, Territory, check_views, mirror_views, unchanged_run


@dataclass
class Refresh:
    """One refresh of the views: the run (plan and summary line) and, in
    library mode, what the views were built from.
    """

    run: MirrorRun
    views: LibraryViews | None = None
    unusable: list[tuple[str, str]] | None = None


def refresh(
    lib: Library, log, *, query: Sequence[str] = (), pretend: bool | None = None
) -> Refresh:
    """Bring the configured views up to date, as `beet mirror` would.

    Reads the options from the `mirror:` configuration; ``pretend``
    overrides `mirror.pretend`. Directory mode runs when source folders are
    configured, library mode (narrowed by ``query``) otherwise. Fatal
    misconfiguration raises ``UserError``.
    """
    options = load_mirror_options(settings.mirror_view())
    if pretend is not None:
        options = replace(options, pretend=pretend)
    if options.sources:
        return Refresh(run_directory_mode(lib, log, options))
    return run_library_mode(lib, log, options, query)


def refresh_after_change(lib: Library, log) -> Refresh | None:
    """Refresh the views after files moved, when `mirror.auto` is on.

    The move already happened, so a mirror problem is a warning, not an
    error; nothing happens when no view is configured.
    """
    view = settings.mirror_view()
    if not view["auto"].get(bool):
        return None
    if not (view["high"].get() or view["low"].get()):
        log.debug("mirror.auto is on but no view is configured")
        return None
    try:
        return refresh(lib, log)
    except UserError as exc:
        log.warning("the mirror views were not refreshed: {}", exc)
        return None


def run_library_mode(
    lib: Library, log, options: MirrorOptions, query: Sequence[str] = ()
) -> Refresh:
    """`beet mirror [QUERY]` in library mode: read, choose, plan, apply.

    With a QUERY only the albums holding a matching item are planned; the
    other links stay as they are.
    """
    # Its many small objects are none of them cyclic: a collector walking
    # them again and again took a third of a re-run at 100,000 items.
    with heap.uncollected():
        return _library_mode(lib, log, options, query)


def _library_mode(
    lib: Library, log, options: MirrorOptions, query: Sequence[str]
) -> Refresh:
    views = view_roots(options)
    libdir = os.fsdecode(lib.directory)
    check_views(views, Territory(libdir=libdir))
    template = PathTemplate(options.path, options.depth, lib)
    rank, tiebreak = _ranker(lib)
    # A QUERY run plans part of the views, so it neither uses nor leaves a
    # stamp; neither does a template or a keeper reading beyond the items.
    stamping = not query and template.fast and tiebreak is None
    rows = None
    fingerprint = ""
    if stamping:
        used = _settings_used(lib, options, views)
        rows = stamp.ItemRows(
            lib, template.sql_columns(), (RECORDING, LOSSLESS, SOURCE)
        )
        fingerprint = rows.digest(used)
        saved = stamp.load(lib)
        if saved is not None:
            quick = _unchanged(lib, log, saved, fingerprint, views, options.pretend)
            if quick is not None:
                return quick
            increment = run_after_change(
                lib,
                log,
                saved,
                rows,
                (fingerprint, stamp.settings_digest(used)),
                template,
                rank,
                views,
                options,
            )
            if increment is not None:
                if not options.pretend:
                    stamp.save(lib, increment.stamp)
                return Refresh(increment.run, None, increment.unusable)
    times = FolderTimes.start()
    tracks = template.read(lib)
    census = FolderCensus(t.folder for t in tracks)
    check_views(views, Territory(libdir=libdir, item_folders=census.direct.keys()))
    usable, unusable = split_unusable(tracks, times)
    for path, reason in unusable:
        log.warning("mirror: {}: {}, not linked", shown(path), reason)
    recordings = recordings_of(lib)
    verdicts = load_verdicts(lib)
    for track in usable:
        track.recording = recordings.get(track.id)
        if track.id in verdicts:
            track.lossless, track.likely_source = verdicts[track.id]
    albums = join_entries(usable)
    scope = None
    scope_items: set[int] = set()
    if query:
        wanted = {item.id for item in lib.items(list(query))}
        albums = [a for a in albums if any(t.id in wanted for t in a.tracks)]
        scope = {name for a in albums for name in (a.rel, *a.names)}
        scope_items = wanted | {t.id for a in albums for t in a.tracks}
    built = desired_views(albums, census, template.track_name, rank)
    desired = real_targets(built.desired) if options.relative else built.desired
    log.debug(
        "mirror: {} items ({} not linked), {} with a recording, {} albums",
        len(tracks),
        len(unusable),
        sum(1 for t in usable if t.recording is not None),
        built.albums,
    )
    run = mirror_views(
        lib,
        log,
        views,
        desired,
        relative=options.relative,
        overwrite_symlinks=options.overwrite_symlinks,
        pretend=options.pretend,
        items=built.items,
        scope=scope,
        scope_items=scope_items,
        dangling_roots={libdir, os.path.realpath(libdir), *census.direct},
    )
    if rows is not None and not options.pretend:
        made = None
        if run.settled and times.stampable:
            usable_ids = {t.id for t in usable}
            left = [t.id for t in tracks if t.id not in usable_ids]
            ledger = make_ledger(
                rows.ids,
                rows.hashes(),
                tracks,
                usable,
                dict(zip(left, unusable, strict=True)),
                albums,
            )
            links = sum(len(getattr(desired, name)) for name in views)
            made = Stamp(
                fingerprint,
                times.times,
                unusable,
                links,
                stamp.settings_digest(_settings_used(lib, options, views)),
                ledger,
            )
        stamp.save(lib, made)
    return Refresh(run, built, unusable)


def _settings_used(
    lib: Library, options: MirrorOptions, views: dict[str, str]
) -> list[object]:
    """The settings a library-mode plan depends on, for the stamp."""
    return [
        sorted(views.items()),
        options.path,
        options.depth,
        options.relative,
        options.overwrite_symlinks,
        *stamp.config_of(lib),
    ]


def _unchanged(
    lib: Library,
    log,
    saved: Stamp,
    fingerprint: str,
    views: dict[str, str],
    pretend: bool,
) -> Refresh | None:
    """The run, when the stamp shows nothing changed since the last one."""
    if saved.digest != fingerprint or not stamp.folders_unchanged(saved):
        return None
    intact = stamp.recorded_links_intact(lib, views, saved.links)
    if intact is None:
        return None
    log.debug("mirror: nothing changed since the last run")
    for line in intact.unreadable:
        log.warning("{}", line)
    for path, reason in saved.unusable:
        log.warning("mirror: {}: {}, not linked", shown(path), reason)
    plan = MirrorPlan(
        [
            Action(ActionKind.KEEP, view, root, rel, "", text, target, True)
            for view, root, rel, text, target in intact.rows
        ]
    )
    return Refresh(unchanged_run(plan, pretend), None, saved.unusable)


def _ranker(lib: Library):
    """Copies of one recording ranked best first, by the plugin's keeper;
    and the configured tiebreak, if any.
    """
    view = beets_config["dedupfuzzy"]
    view.add(settings.DEFAULTS)
    fields = (view["tiebreak"].get(dict) or {}).get("items", [])
    tiebreak = quality.tiebreaker(lib, list(fields))

    def rank(copies: Sequence[Track]) -> list[Track]:
        return quality.rank(copies, tiebreak)

    return rank, tiebreak
