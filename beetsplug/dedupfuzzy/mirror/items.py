"""Reading the library for the mirror: every item placed under the path template.

A library of 100,000 items must be read in well under a second, so items
are read with one SQL query (no beets ``Item`` per row) and the template is
evaluated on the plain values the way beets evaluates path formats: album
fields come from the item's album, ``$albumartist`` and ``$artist`` stand in
for each other, a ``/`` inside a value is replaced (``path_sep_replace``),
and each folder name is sanitised with the ``replace`` rules and truncated.

Only the entry part of the template (the folders down to the depth) is
needed for every item, and it is the same for all tracks of an album, so it
is evaluated once per distinct set of values. The file name below it is
evaluated only for the few copies linked track by track.

A template that needs more than the items table (flexible attributes,
computed fields such as ``$singleton``, ``%aunique`` or another plugin's
functions) is evaluated on beets items instead: slower, never wrong.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from operator import itemgetter

from beets import config as beets_config
from beets import plugins, util
from beets.library import Album, Item, Library
from beets.library.models import DefaultTemplateFunctions
from beets.ui import UserError
from beets.util import functemplate

from .albums import Track

# Template functions that only transform their arguments, so they work on
# plain values; the others (%aunique, %sunique, %ifdef) need a beets item.
PURE_FUNCTIONS = frozenset(
    {"lower", "upper", "capitalize", "title", "left", "right", "if", "asciify"}
    | {"time", "first"}
)
_IDS_PER_QUERY = 500
_BASE_COLUMNS = ("id", "path", "format", "bitrate", "bitdepth", "samplerate")
_ARTISTS = frozenset({"artist", "albumartist"})
_PLAIN_EXT = re.compile(r"\.[^./\\]+\Z")
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


class _Separator:
    """A ``/`` written in the template itself (not inside a function)."""


_SEP = _Separator()


class PathTemplate:
    """The mirror's path template for one run, and the library items under it."""

    def __init__(self, text: str, depth: int, lib: Library) -> None:
        try:
            self.template = functemplate.get_template(text)
        except Exception as exc:  # the parser raises several kinds
            raise UserError(f"mirror: cannot parse the path {text!r}: {exc}") from None
        self.text = text
        self.depth = depth
        self.libdir = os.fsdecode(lib.directory)
        self.replacements = lib.replacements
        self._replace_rules = lib.replacements or util.CHAR_REPLACE
        self.sep_replace = beets_config["path_sep_replace"].as_str()
        self.drive_replace = beets_config["drive_sep_replace"].as_str()
        self.asciify = beets_config["asciify_paths"].get(bool)
        self.max_length = util.get_max_filename_length()
        self.functions = {
            name: func
            for name, func in DefaultTemplateFunctions(None, lib).functions().items()
            if name in PURE_FUNCTIONS
        }
        self.head, self.rest = _split_at_depth(self.template.expr.parts, depth)
        if self.head is not None and self.rest is None:
            raise self._too_shallow()
        fields = _fields(self.template.expr.parts)
        calls = _calls(self.template.expr.parts)
        self.fast = (
            self.head is not None
            and fields <= set(Item._fields)
            and not fields & set(Item._getters())
            and calls <= PURE_FUNCTIONS
            and not calls & set(plugins.template_funcs())
        )
        # The columns read, and which of them the entry part needs.
        self.columns = sorted(fields | _ARTISTS if fields & _ARTISTS else fields)
        head_fields = _fields(self.head or [])
        if head_fields & _ARTISTS:
            head_fields |= _ARTISTS
        self.head_columns = [n for n, c in enumerate(self.columns) if c in head_fields]
        rest_fields = _fields(self.rest or [])
        if rest_fields & _ARTISTS:
            rest_fields |= _ARTISTS
        self.rest_columns = [n for n, c in enumerate(self.columns) if c in rest_fields]
        self._formatters = (
            [self._formatter(name) for name in self.columns] if self.fast else []
        )
        self._legal: dict[str, str] = {}
        self._entries: dict[tuple, str] = {}
        self._folders: dict[str, str] = {}

    # Reading.

    def read(self, lib: Library) -> list[Track]:
        """Every library item as a track placed under the template."""
        if not self.fast:
            return list(self._read_items(lib))
        with lib.transaction() as tx:
            rows = tx.query(
                f"SELECT {', '.join(self.sql_columns())} FROM items"
                " LEFT JOIN albums ON albums.id = items.album_id"
            )
        return list(self._read_rows(rows))

    def read_some(self, lib: Library, ids: Collection[int]) -> list[Track]:
        """The items of these ids as tracks (a template reading the items
        table alone: ``fast``), a few hundred ids per query.
        """
        if not self.fast:
            raise ValueError("read_some needs a template of item columns")
        select = (
            f"SELECT {', '.join(self.sql_columns())} FROM items"
            " LEFT JOIN albums ON albums.id = items.album_id WHERE items.id IN "
        )
        wanted = sorted(ids)
        rows: list = []
        with lib.transaction() as tx:
            for at in range(0, len(wanted), _IDS_PER_QUERY):
                chunk = wanted[at : at + _IDS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                rows += tx.query(f"{select}({marks})", tuple(chunk))
        return list(self._read_rows(rows))

    def sql_columns(self) -> list[str]:
        """What is read of each item (``items`` joined with ``albums``):
        the columns the mirror needs, then those the template reads.
        """
        columns = [f"items.{c}" for c in _BASE_COLUMNS]
        for name in self.columns:
            if name in Album.item_keys:
                # beets takes album fields from the album when there is one.
                columns.append(
                    f"CASE WHEN albums.id IS NULL THEN items.{name}"
                    f" ELSE albums.{name} END"
                )
            else:
                columns.append(f"items.{name}")
        return columns

    def _read_rows(self, rows: Sequence[Sequence]) -> Iterator[Track]:
        base = len(_BASE_COLUMNS)
        picks = [base + n for n in self.head_columns]
        # One pick gives a value, several a tuple: either is a fine memo key.
        head_values = itemgetter(*picks) if picks else (lambda row: None)
        for row in rows:
            key = head_values(row)
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entry_of(row)
                self._entries[key] = entry
            yield self._track(row, entry, row)

    def _read_items(self, lib: Library) -> Iterator[Track]:
        for item in lib.items():
            parts = self._components(item.evaluate_template(self.text, for_path=True))
            if len(parts) <= self.depth:
                raise self._too_shallow()
            entry = os.sep.join(self._legal_part(p) for p in parts[: self.depth])
            rest = os.sep.join(parts[self.depth :])
            row = (item.id, item.path, item.format, item.bitrate, item.bitdepth)
            row += (item.samplerate,)
            yield self._track(row, entry, rest)

    def _too_shallow(self) -> UserError:
        return UserError(
            f"mirror: the path {self.text!r} cut at depth {self.depth} leaves"
            " nothing to name the tracks by; use a smaller --depth or a longer"
            " path (e.g. $albumartist/$album/$track $title at depth 2)"
        )

    def _track(self, row: Sequence, entry: str, source: object) -> Track:
        path, folder = self._location(row[1])
        return Track(
            row[0], path, folder, row[2] or "", row[3] or 0, row[4] or 0,
            row[5] or 0, entry, None, source,
        )  # fmt: skip

    def _location(self, raw: object) -> tuple[str, str]:
        """An item's absolute path and folder, from its `path` column.

        beets stores the paths inside the library directory relative to it,
        with ``/`` as the separator (``beets.dbcore.pathutils``), the others
        absolute and normalised; relative folders are resolved once each.
        """
        if isinstance(raw, bytes):
            text = raw.decode(_FS_ENCODING, _FS_ERRORS)  # os.fsdecode, faster
        else:
            text = os.fsdecode(bytes(raw)) if isinstance(raw, memoryview) else raw or ""
        cut = text.rfind("/")
        if cut > 0 and text[0] == "/" and os.sep == "/":
            return text, text[:cut]
        stored, name = (text[:cut] or "/", text[cut + 1 :]) if cut >= 0 else ("", text)
        folder = self._folders.get(stored)
        if folder is None:
            folder = stored.replace("/", os.sep)
            if not os.path.isabs(folder):
                folder = os.path.join(self.libdir, folder)
            folder = os.path.normpath(folder)
            self._folders[stored] = folder
        return (folder + os.sep + name if folder != os.sep else os.sep + name), folder

    # Evaluating.

    def _values(self, row: Sequence, wanted: Sequence[int]) -> dict[str, str]:
        base = len(_BASE_COLUMNS)
        values = {self.columns[n]: self._formatters[n](row[base + n]) for n in wanted}
        if "artist" in values and "albumartist" in values:
            artist, albumartist = values["artist"], values["albumartist"]
            values["artist"] = artist or albumartist
            values["albumartist"] = albumartist or artist
        return values

    def _entry_of(self, row: Sequence) -> str:
        values = self._values(row, self.head_columns)
        text = _evaluate(self.head or [], values, self.functions)
        return os.sep.join(self._legal_part(p) for p in self._components(text))

    def track_name(self, track: Track) -> str:
        """A track's file name below its album, as beets would name it."""
        if isinstance(track.source, str):
            rest = track.source
        else:
            values = self._values(track.source, self.rest_columns)
            rest = os.sep.join(
                self._components(_evaluate(self.rest or [], values, self.functions))
            )
        ext = extension(track.path)
        name = self.legal_name(rest, ext)
        return name.lstrip(os.sep) or "_" + ext.lower()

    def legal_name(self, rest: str, ext: str) -> str:
        """``util.legalize_path(rest, replacements, ext)``, without its costly
        truncation machinery in the common case: one short component with a
        plain extension, where beets' two sanitising passes and nothing else
        apply. Anything else goes through beets itself.
        """
        if rest and os.sep not in rest and _PLAIN_EXT.match(ext):
            name = rest
            for _ in range(2):
                before = name
                for regex, replacement in self._replace_rules:
                    name = regex.sub(replacement, name)
                if name == before:  # a second pass would change nothing
                    break
            if name and len(name.encode()) + len(ext) < self.max_length - 4:
                return name + ext.lower()
        legal, _ = util.legalize_path(rest, self.replacements, ext)
        return legal

    def _components(self, text: str) -> list[str]:
        if self.asciify:
            text = util.asciify_path(text, self.sep_replace)
        return text.split("/")

    def _legal_part(self, part: str) -> str:
        """One folder name, sanitised as beets sanitises paths; never empty,
        so that every entry sits at the same depth.
        """
        legal = self._legal.get(part)
        if legal is None:
            legal = util.sanitize_path(part, self.replacements)
            legal = util.truncate_str(legal, self.max_length) or "_"
            self._legal[part] = legal
        return legal

    def _formatter(self, name: str) -> Callable[[object], str]:
        """Raw SQL value -> the text beets puts in a path, memoised."""
        kind = Item._fields[name]
        memo: dict[object, str] = {}

        def formatted(raw: object) -> str:
            text = memo.get(raw)
            if text is None:
                value = kind.format(kind.from_sql(raw))
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "ignore")
                text = self._path_safe(value)
                memo[raw] = text
            return text

        return formatted

    def _path_safe(self, value: str) -> str:
        # As beets' FormattedMapping does for paths: no separator may come
        # from a value, and no drive letter.
        if len(value) > 1 and value[1] == ":" and value[0].isalpha():
            value = value[0] + self.drive_replace + value[2:]
        for sep in (os.path.sep, os.path.altsep):
            if sep:
                value = value.replace(sep, self.sep_replace)
        return value


def extension(path: str) -> str:
    """A file's extension with its dot ("" for none), as beets keeps it."""
    name = path[path.rfind(os.sep) + 1 :]
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def _split_at_depth(parts: list, depth: int) -> tuple[list | None, list | None]:
    """The template's parts above and below its ``depth``-th ``/``.

    The head is None when a ``/`` hides in a function's arguments (then
    only the whole evaluated path tells where the folders are); the rest is
    None when the template has no more than ``depth`` levels (nothing is
    left below the entry to name the tracks by).
    """
    if any(isinstance(p, functemplate.Call) and _has_slash(p) for p in parts):
        return None, None
    tokens: list = []
    for part in parts:
        if isinstance(part, str):
            pieces = part.split("/")
            for n, piece in enumerate(pieces):
                if n:
                    tokens.append(_SEP)
                if piece:
                    tokens.append(piece)
        else:
            tokens.append(part)
    seps = [n for n, token in enumerate(tokens) if token is _SEP]
    if len(seps) < depth:
        return [t if t is not _SEP else "/" for t in tokens], None
    cut = seps[depth - 1]
    head = [t if t is not _SEP else "/" for t in tokens[:cut]]
    rest = [t if t is not _SEP else "/" for t in tokens[cut + 1 :]]
    return head, rest


def _has_slash(call: functemplate.Call) -> bool:
    for arg in call.args:
        for part in arg.parts:
            if isinstance(part, str) and "/" in part:
                return True
            if isinstance(part, functemplate.Call) and _has_slash(part):
                return True
    return False


def _fields(parts: list) -> set[str]:
    found = set()
    for part in parts:
        if isinstance(part, functemplate.Symbol):
            found.add(part.ident)
        elif isinstance(part, functemplate.Call):
            for arg in part.args:
                found |= _fields(arg.parts)
    return found


def _calls(parts: list) -> set[str]:
    found = set()
    for part in parts:
        if isinstance(part, functemplate.Call):
            found.add(part.ident)
            for arg in part.args:
                found |= _calls(arg.parts)
    return found


def _evaluate(parts: list, values: dict[str, str], functions: dict) -> str:
    env = functemplate.Environment(values, functions)
    return functemplate.Expression(parts).evaluate(env)
