"""Typed view of the plugin's configuration: confuse is read once, validated once."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from beets import config as beets_config
from beets.ui import UserError

DEFAULTS: dict[str, object] = {
    # Matching (similarity = 1 - 2 * bit error rate; 1 identical, 0 unrelated).
    "auto_threshold": 0.77,
    "ask_threshold": 0.55,
    "length_tolerance": 5.0,
    "max_offset": 12.0,
    "min_overlap": 20.0,
    # What to keep and where the others go.
    "keep": "best",
    "tiebreak": {},
    "quarantine": "",
    "move": False,
    "tag": "",
    "pretend": False,
    # Listing.
    "format": "",
    "count": False,
    "report": "",
    # Fingerprinting.
    "threads": 0,
    "check_lossless": True,
    # Import hook.
    "auto": True,
    "import_action": "ask",
    "quiet_action": "keep",
    # Another run of the plugin on the same library: wait this long, then stop.
    "lock_wait": 3600,
}

MIRROR_DEFAULTS: dict[str, object] = {
    "high": "",
    "low": "",
    "source_high": "",
    "source_low": "",
    "depth": 2,
    "path": "$albumartist/$album/$track $title",
    "relative": False,
    "follow_symlinks": False,
    "overwrite_symlinks": False,
    "pretend": False,
    "auto": False,
}

KEEP_POLICIES = ("best", "best-of-each")
IMPORT_ACTIONS = ("ask", "best", "keep", "skip")


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds and guards used when comparing two fingerprints."""

    auto_threshold: float = 0.77
    ask_threshold: float = 0.55
    length_tolerance: float = 5.0
    max_offset: float = 12.0
    min_overlap: float = 20.0


@dataclass(frozen=True)
class Settings:
    """Everything `beet dedupfuzzy` and the import hook read from config."""

    match: MatchSettings = field(default_factory=MatchSettings)
    keep: str = "best"
    tiebreak: dict[str, list[str]] = field(default_factory=dict)
    quarantine: str = ""
    move: bool = False
    tag: str = ""
    pretend: bool = False
    format: str = ""
    count: bool = False
    report: str = ""
    threads: int = 0
    check_lossless: bool = True
    auto: bool = True
    import_action: str = "ask"
    quiet_action: str = "keep"
    lock_wait: float = 3600.0
    # `keep` was not set and a low view is configured: best-of-each applies.
    keep_for_views: bool = False

    @property
    def workers(self) -> int:
        return self.threads if self.threads > 0 else (os.cpu_count() or 1)


def load_settings(view) -> Settings:
    """Read and validate the `dedupfuzzy` config view (after `set_args`)."""
    match = MatchSettings(
        auto_threshold=view["auto_threshold"].as_number(),
        ask_threshold=view["ask_threshold"].as_number(),
        length_tolerance=view["length_tolerance"].as_number(),
        max_offset=view["max_offset"].as_number(),
        min_overlap=view["min_overlap"].as_number(),
    )
    if not 0 <= match.ask_threshold <= match.auto_threshold <= 1:
        raise UserError(
            "dedupfuzzy: need 0 <= ask_threshold <= auto_threshold <= 1, got "
            f"{match.ask_threshold} and {match.auto_threshold}"
        )
    keep = view["keep"].as_choice(KEEP_POLICIES)
    keep_for_views = keep == "best" and not _set_by_user(view["keep"]) and _low_view()
    if keep_for_views:
        keep = "best-of-each"
    import_action = view["import_action"].as_choice(IMPORT_ACTIONS)
    quiet_action = view["quiet_action"].as_choice(IMPORT_ACTIONS[1:])
    tiebreak = view["tiebreak"].get(dict) or {}
    return Settings(
        match=match,
        keep=keep,
        tiebreak={str(k): list(v) for k, v in tiebreak.items()},
        quarantine=view["quarantine"].as_str() or "",
        move=bool(view["move"].get()),
        tag=view["tag"].as_str() or "",
        pretend=bool(view["pretend"].get()),
        format=view["format"].as_str() or "",
        count=bool(view["count"].get()),
        report=view["report"].as_str() or "",
        threads=int(view["threads"].get(int)),
        check_lossless=bool(view["check_lossless"].get()),
        auto=bool(view["auto"].get()),
        import_action=import_action,
        quiet_action=quiet_action,
        lock_wait=float(view["lock_wait"].as_number()),
        keep_for_views=keep_for_views,
    )


def _set_by_user(view) -> bool:
    """Whether a key comes from a config file or the command line, not a default."""
    return any(source.filename for _, source in view.resolve())


def _low_view() -> bool:
    """Whether `beet mirror` builds a low view from the library's items.

    Then `keep` defaults to best-of-each: the low view shows the lossy
    copies, and `keep: best` would send them to the quarantine.
    """
    mirror = mirror_view()
    return bool(mirror["low"].get()) and not (
        mirror["source_high"].get() or mirror["source_low"].get()
    )


def mirror_view():
    """The top-level `mirror:` section, with its defaults registered."""
    view = beets_config["mirror"]
    view.add(MIRROR_DEFAULTS)
    return view


def unknown_keys(view, known: Iterable[str]) -> list[str]:
    """Keys set under this config view that the plugin does not know."""
    known = set(known)
    try:
        keys = view.keys()
    except Exception:  # not a mapping: confuse reports it when read
        return []
    return [k for k in keys if k not in known]


def warn_unknown_keys(plugin_view, log) -> None:
    """One line per unknown key under `dedupfuzzy:` or `mirror:` (a typo such
    as `auto_treshold` is otherwise silently ignored)."""
    for name, view, known in (
        ("dedupfuzzy", plugin_view, DEFAULTS),
        ("mirror", beets_config["mirror"], MIRROR_DEFAULTS),
    ):
        for key in unknown_keys(view, known):
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {name}.{close[0]}?)" if close else ""
            log.warning("unknown config key {}.{} is ignored{}", name, key, hint)
