"""Load the YAML configuration: built-in defaults, then the user's files merged on top.

Merge rules, in the order they apply:

* The built-in defaults (`warroom/config/defaults/*.yaml`) form the first layer; the user's
  file, or every `*.yaml`/`*.yml` in the user's folder (sorted by name, not recursive), the
  second. A section the user gives replaces the default section wholesale, except `roles`,
  which merges role by role.
* Within the user's files, a list section (`users`, `teams`, ...) given by several files is
  concatenated in file order; any other section given twice is an error naming both files.
* The seeds' own blocks load as they stand: a top-level role key (`incident_commander:`, ...)
  is one role, `runbook:` is appended to `runbooks`, `handoff_document:` is the
  `handoff_template`.
* Defaults that name a severity (triage routes) follow a renamed scheme by rank, so
  replacing SEV1-SEV4 with P0-P3 does not also require rewriting the default triage.

Every problem is reported at once, each with the file, the line and the dotted field path
as written in that file: syntax errors, unknown sections and fields, bad values, and
references between sections. When fields fail, references are still compared among the
parts that validate (an item without its failing values), leaving out what only follows
from a failed item. When a file does not parse, the others are still checked field by
field, but references wait until it parses: a syntax error must not cause a cascade of
"unknown team" problems.
"""

from __future__ import annotations

import copy
import difflib
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from warroom.config.problems import (
    ConfigError,
    ConfigPath,
    ConfigProblem,
    Origin,
    partial_reference_problems,
    references_checked,
    sorted_problems,
    validation_problems,
)
from warroom.config.schema import ConfigCheck, WarroomConfig

__all__ = [
    "ROLE_KEYS",
    "ConfigError",
    "ConfigProblem",
    "config_files",
    "load_config",
    "validate_path",
]

#: Top-level keys that are one role definition, as seed 000 writes them.
ROLE_KEYS = frozenset(
    {
        "incident_commander",
        "technical_lead",
        "communications_lead",
        "scribe",
        "sme",
        "operations_lead",
    }
)

_SECTIONS: tuple[str, ...] = tuple(WarroomConfig.model_fields)
_LIST_SECTIONS = frozenset(
    name
    for name, info in WarroomConfig.model_fields.items()
    if typing.get_origin(info.annotation) is list
)
# Seed block name -> the section it fills.
_APPENDED_TO = {"runbook": "runbooks"}
_RENAMED_TO = {"handoff_document": "handoff_template"}

# libyaml's parser when present: the same safe constructor, several times faster.
_SafeLoader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)

_DEFAULTS_NAME = "<defaults>"
_REFERENCES_LATER = (
    "references between sections (users, teams, schedules, policies...) are checked "
    "once every file parses"
)
_MERGE_TAG = "tag:yaml.org,2002:merge"

_Path = ConfigPath


def load_config(path: Path | str | None, *, checks: Sequence[ConfigCheck]) -> WarroomConfig:
    """Load the defaults and the YAML file or folder at `path` into a validated configuration.

    `checks` are the domains' own rules over the whole configuration (the matrix, schedule
    names): `warroom.configuration.load_config` passes them all.
    """
    problems: list[ConfigProblem] = []
    defaults_read, complete = _read_defaults(problems)
    layer = _collect(defaults_read, problems)
    root = _DEFAULTS_NAME
    user_read: list[_Source] = []
    if path is not None:
        root = str(path)
        user_read, user_complete = _read_user(Path(path), problems)
        layer = _overlay(layer, _collect(user_read, problems))
        complete = complete and user_complete
    if not complete:
        if path is None or not user_read:
            raise ConfigError(sorted_problems(problems))  # nothing else to check
        # What refers to a part of the missing file would only be reported missing.
        problems.append(ConfigProblem(root, None, "", _REFERENCES_LATER))
    merged, index = layer.merge()
    try:
        config = WarroomConfig.model_validate(merged, context={"checks": checks})
    except ValidationError as exc:
        problems.extend(validation_problems(exc, merged, index, root, references=complete))
        if complete and not references_checked(exc):
            # Fields failed, so the schema never compared references across sections:
            # compare them among the parts that did validate.
            problems.extend(partial_reference_problems(merged, index, root, checks))
        raise ConfigError(sorted_problems(problems)) from None
    if problems:
        raise ConfigError(sorted_problems(problems))
    return config


def validate_path(path: Path | str | None, *, checks: Sequence[ConfigCheck]) -> list[ConfigProblem]:
    """Every problem with the configuration at `path`; an empty list when it loads."""
    try:
        load_config(path, checks=checks)
    except ConfigError as exc:
        return exc.problems
    return []


def config_files(path: Path) -> list[Path]:
    """The files a configuration path stands for: the file itself, or a folder's YAML files."""
    if path.is_dir():
        return sorted(
            (p for p in path.iterdir() if p.is_file() and p.suffix in {".yaml", ".yml"}),
            key=lambda p: p.name,
        )
    return [path]


# --- reading files ------------------------------------------------------------------------


@dataclass
class _Source:
    """One parsed YAML file: its top-level mapping and the line of every node in it."""

    name: str
    data: dict[str, Any]
    lines: dict[_Path, int]
    # Paths grouped by their first one and first two parts, so that placing each of a
    # thousand users does not scan the whole file a thousand times.
    _groups: dict[_Path, list[_Path]] = field(default_factory=dict, init=False, repr=False)

    def line(self, path: _Path) -> int | None:
        return self.lines.get(path)

    def under(self, src: _Path) -> list[_Path]:
        """Every recorded path that is `src` or lies below it."""
        if not self._groups:
            for path in self.lines:
                for size in (1, 2):
                    if len(path) >= size:
                        self._groups.setdefault(path[:size], []).append(path)
        group = self._groups.get(src[:2], [])
        return [path for path in group if path[: len(src)] == src]


def _read_defaults(problems: list[ConfigProblem]) -> tuple[list[_Source], bool]:
    folder = resources.files("warroom.config").joinpath("defaults")
    entries: list[Traversable] = [
        entry
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith((".yaml", ".yml"))
    ]
    sources, complete = [], True
    for entry in sorted(entries, key=lambda e: e.name):
        source = _parse(f"{_DEFAULTS_NAME}/{entry.name}", entry.read_bytes(), problems)
        if source is None:
            complete = False
        else:
            sources.append(source)
    return sources, complete


def _read_user(path: Path, problems: list[ConfigProblem]) -> tuple[list[_Source], bool]:
    if not path.exists():
        problems.append(ConfigProblem(str(path), None, "", "no such file or folder"))
        return [], False
    files = config_files(path)
    if not files:
        problems.append(ConfigProblem(str(path), None, "", "the folder has no .yaml/.yml file"))
        return [], False
    sources, complete = [], True
    for file in files:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            problems.append(ConfigProblem(str(file), None, "", f"cannot read: {exc.strerror}"))
            complete = False
            continue
        source = _parse(str(file), raw, problems)
        if source is None:
            complete = False
        else:
            sources.append(source)
    return sources, complete


def _parse(name: str, raw: bytes, problems: list[ConfigProblem]) -> _Source | None:
    """Parse one file with the safe loader; record syntax errors and duplicate keys."""
    loader = _SafeLoader(raw)
    try:
        node = loader.get_single_node()
        lines: dict[_Path, int] = {}
        if node is not None:
            _index_lines(node, (), lines, name, problems, set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = ", ".join(str(part) for part in (exc.context, exc.problem) if part)
        problems.append(ConfigProblem(name, line, "", f"YAML syntax error: {detail}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(ConfigProblem(name, None, "", f"YAML error: {exc}"))
        return None
    finally:
        loader.dispose()
    if data is None:
        return _Source(name, {}, lines)
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem(name, lines.get((), 1), "", "the top level must be a mapping of sections")
        )
        return None
    return _Source(name, data, lines)


def _index_lines(
    node: Node,
    path: _Path,
    lines: dict[_Path, int],
    file: str,
    problems: list[ConfigProblem],
    active: set[int],
) -> None:
    """Record the 1-based line of every mapping key and sequence item under `node`."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:  # a recursive alias: its lines are already recorded
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        first_seen: dict[str, int] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                continue  # a complex key; the schema will refuse it
            key, line = str(key_node.value), key_node.start_mark.line + 1
            child = (*path, key)
            if key in first_seen:
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        ".".join(child),
                        f"duplicate key {key!r} (first given on line {first_seen[key]})",
                    )
                )
            else:
                first_seen[key] = line
            lines[child] = line
            _index_lines(value_node, child, lines, file, problems, active)
        # Keys brought in by `<<: *anchor` point at the anchor's lines unless given here.
        for value_node in merged:
            parts = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for part in parts:
                if isinstance(part, MappingNode):
                    for key_node, sub_node in part.value:
                        if isinstance(key_node, ScalarNode):
                            child = (*path, str(key_node.value))
                            if child not in lines:
                                lines[child] = key_node.start_mark.line + 1
                                _index_lines(sub_node, child, lines, file, problems, active)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, str(i))
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines, file, problems, active)
    active.discard(id(node))


# --- merging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """A value taken from `src` in one file, to be placed in the merged configuration."""

    source: _Source
    src: _Path
    value: Any

    @property
    def where(self) -> str:
        line = self.source.line(self.src)
        return self.source.name if line is None else f"{self.source.name}:{line}"


@dataclass
class _ListSection:
    header: _Piece
    items: list[_Piece] = field(default_factory=list)


@dataclass
class _Layer:
    """The sections given by one layer (the defaults, or the user's files)."""

    singles: dict[str, _Piece] = field(default_factory=dict)
    lists: dict[str, _ListSection] = field(default_factory=dict)
    roles: dict[str, _Piece] = field(default_factory=dict)
    roles_header: _Piece | None = None
    from_defaults: set[str] = field(default_factory=set)

    def merge(self) -> tuple[dict[str, Any], dict[_Path, Origin]]:
        """The merged sections, and where each path of them came from."""
        merged: dict[str, Any] = {}
        index: dict[_Path, Origin] = {}
        for section, piece in self.singles.items():
            merged[section] = piece.value
            _place(index, piece, (section,))
        for section, listed in self.lists.items():
            _place(index, listed.header, (section,), header_only=True)
            merged[section] = []
            for i, piece in enumerate(listed.items):
                merged[section].append(piece.value)
                _place(index, piece, (section, str(i)))
        if self.roles_header is not None:
            _place(index, self.roles_header, ("roles",), header_only=True)
            merged["roles"] = {}
            for key, piece in self.roles.items():
                merged["roles"][key] = piece.value
                _place(index, piece, ("roles", key))
        return merged, index


def _place(
    index: dict[_Path, Origin], piece: _Piece, dst: _Path, header_only: bool = False
) -> None:
    source, src = piece.source, piece.src
    if header_only:
        index[dst] = Origin(source.name, source.line(src), src)
        return
    for path in source.under(src):
        index[dst + path[len(src) :]] = Origin(source.name, source.lines[path], path)


def _collect(sources: Iterable[_Source], problems: list[ConfigProblem]) -> _Layer:
    """Sort every top-level key of every file into the section it fills."""
    layer = _Layer()
    for source in sources:
        for key, value in source.data.items():
            key = str(key)
            here = _Piece(source, (key,), value)
            if key in ROLE_KEYS:
                _add_role(layer, key, here, problems)
            elif key == "roles":
                if not isinstance(value, dict):
                    _problem(problems, here, "expected a mapping of role key to role definition")
                    continue
                if layer.roles_header is None:
                    layer.roles_header = here
                for role_key, role in value.items():
                    piece = _Piece(source, ("roles", str(role_key)), role)
                    _add_role(layer, str(role_key), piece, problems)
            elif key in _APPENDED_TO:
                _list_section(layer, _APPENDED_TO[key], here).items.append(here)
            elif key in _LIST_SECTIONS:
                if not isinstance(value, list):
                    _problem(problems, here, "expected a list")
                    continue
                listed = _list_section(layer, key, here)
                listed.items.extend(
                    _Piece(source, (key, str(i)), item) for i, item in enumerate(value)
                )
            elif key in _SECTIONS or key in _RENAMED_TO:
                section = _RENAMED_TO.get(key, key)
                if section in layer.singles:
                    other = layer.singles[section]
                    _problem(
                        problems,
                        here,
                        f"section {section!r} is also given in {other.where}; give it in one file",
                    )
                    continue
                layer.singles[section] = here
            else:
                _problem(problems, here, _unknown_section_message(key))
    return layer


def _add_role(layer: _Layer, key: str, piece: _Piece, problems: list[ConfigProblem]) -> None:
    if key in layer.roles:
        other = layer.roles[key]
        _problem(problems, piece, f"role {key!r} is also defined in {other.where}; define it once")
        return
    layer.roles[key] = piece
    if layer.roles_header is None:
        layer.roles_header = piece


def _list_section(layer: _Layer, section: str, header: _Piece) -> _ListSection:
    if section not in layer.lists:
        layer.lists[section] = _ListSection(header)
    return layer.lists[section]


def _problem(problems: list[ConfigProblem], piece: _Piece, message: str) -> None:
    problems.append(
        ConfigProblem(piece.source.name, piece.source.line(piece.src), ".".join(piece.src), message)
    )


def _unknown_section_message(key: str) -> str:
    known = sorted({*_SECTIONS, *ROLE_KEYS, *_APPENDED_TO, *_RENAMED_TO})
    message = f"unknown section {key!r}"
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; known sections: {', '.join(known)}"


def _overlay(defaults: _Layer, user: _Layer) -> _Layer:
    """The user's sections over the defaults: whole sections replace, roles merge by key."""
    result = _Layer(
        singles=dict(defaults.singles),
        lists=dict(defaults.lists),
        roles=dict(defaults.roles),
        roles_header=defaults.roles_header,
    )
    result.singles.update(user.singles)
    result.lists.update(user.lists)
    result.roles.update(user.roles)
    if user.roles_header is not None:
        result.roles_header = user.roles_header
    result.from_defaults = {
        *(s for s in defaults.singles if s not in user.singles),
        *(s for s in defaults.lists if s not in user.lists),
    }
    _follow_renamed_scheme(defaults, result)
    return result


def _severity_names(layer: _Layer) -> list[str]:
    listed = layer.lists.get("severities")
    if listed is None:
        return []
    return [str(p.value.get("name")) for p in listed.items if isinstance(p.value, dict)]


def _follow_renamed_scheme(defaults: _Layer, result: _Layer) -> None:
    """Point default severity references at the level of the same rank in the user's scheme."""
    old, new = _severity_names(defaults), _severity_names(result)
    if not old or not new or old == new:
        return
    by_rank = {name: new[min(rank, len(new) - 1)] for rank, name in enumerate(old)}

    def renamed(name: object) -> object:
        if isinstance(name, str) and name not in new and name in by_rank:
            return by_rank[name]
        return name

    triage = result.singles.get("triage")
    if "triage" in result.from_defaults and triage is not None and isinstance(triage.value, dict):
        value = copy.deepcopy(triage.value)
        priorities = value.get("priorities")
        if isinstance(priorities, dict):
            for route in priorities.values():
                if isinstance(route, dict) and "severity" in route:
                    route["severity"] = renamed(route["severity"])
        result.singles["triage"] = _Piece(triage.source, triage.src, value)
    types_ = result.lists.get("incident_types")
    if "incident_types" in result.from_defaults and types_ is not None:
        items = []
        for piece in types_.items:
            value = piece.value
            if isinstance(value, dict) and "default_severity" in value:
                value = {**value, "default_severity": renamed(value["default_severity"])}
            items.append(_Piece(piece.source, piece.src, value))
        result.lists["incident_types"] = _ListSection(types_.header, items)
