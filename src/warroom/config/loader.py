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

import ast
import copy
import difflib
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from warroom.config.schema import ConfigCheck, WarroomConfig, reference_problems

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

_Path = tuple[str, ...]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, where it is and what to do about it."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


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
            raise ConfigError(_sorted(problems))  # nothing else to check
        # What refers to a part of the missing file would only be reported missing.
        problems.append(ConfigProblem(root, None, "", _REFERENCES_LATER))
    merged, index = layer.merge()
    try:
        config = WarroomConfig.model_validate(merged, context={"checks": checks})
    except ValidationError as exc:
        problems.extend(_validation_problems(exc, merged, index, root, references=complete))
        if complete and not _references_checked(exc):
            # Fields failed, so the schema never compared references across sections:
            # compare them among the parts that did validate.
            problems.extend(_partial_reference_problems(merged, index, root, checks))
        raise ConfigError(_sorted(problems)) from None
    if problems:
        raise ConfigError(_sorted(problems))
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
                        _dotted(child),
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
class _Origin:
    file: str
    line: int | None
    src: _Path


@dataclass
class _Layer:
    """The sections given by one layer (the defaults, or the user's files)."""

    singles: dict[str, _Piece] = field(default_factory=dict)
    lists: dict[str, _ListSection] = field(default_factory=dict)
    roles: dict[str, _Piece] = field(default_factory=dict)
    roles_header: _Piece | None = None
    from_defaults: set[str] = field(default_factory=set)

    def merge(self) -> tuple[dict[str, Any], dict[_Path, _Origin]]:
        """The merged sections, and where each path of them came from."""
        merged: dict[str, Any] = {}
        index: dict[_Path, _Origin] = {}
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
    index: dict[_Path, _Origin], piece: _Piece, dst: _Path, header_only: bool = False
) -> None:
    source, src = piece.source, piece.src
    if header_only:
        index[dst] = _Origin(source.name, source.line(src), src)
        return
    for path in source.under(src):
        index[dst + path[len(src) :]] = _Origin(source.name, source.lines[path], path)


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
        ConfigProblem(piece.source.name, piece.source.line(piece.src), _dotted(piece.src), message)
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


# --- turning validation errors into problems ---------------------------------------------

# The schema's cross-reference check joins its findings with "; ", each "dotted.path: text".
_FINDING_SPLIT = re.compile(r"; (?=[\w.-]+: )")
_FINDING = re.compile(r"^([\w.-]+): (.*)$", re.DOTALL)
_QUOTED_TAIL = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")$")


def _validation_problems(
    exc: ValidationError,
    merged: dict[str, Any],
    index: dict[_Path, _Origin],
    root: str,
    *,
    references: bool = True,
) -> Iterator[ConfigProblem]:
    for error in exc.errors(include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        kind = error["type"]
        message = _message(error)
        if not loc and kind == "value_error":
            if references:
                yield from _findings(_FINDING_SPLIT.split(message), merged, index, root)
            continue
        if kind == "extra_forbidden":
            message = _unknown_field_message(loc)
        elif kind == "missing":
            message = "required field is missing"
        yield _locate(index, loc, message, root)


def _findings(
    findings: Iterable[str], merged: dict[str, Any], index: dict[_Path, _Origin], root: str
) -> Iterator[ConfigProblem]:
    """Place the schema's cross-reference findings (`dotted.path: text`)."""
    for finding in findings:
        match = _FINDING.match(finding)
        if match is None:
            yield _locate(index, (), finding, root)
            continue
        path = tuple(match.group(1).split("."))
        text = match.group(2)
        yield _locate(index, _pin_list_item(merged, path, text), text, root)


def _references_checked(exc: ValidationError) -> bool:
    """Did the schema get as far as comparing references (every field validated)?"""
    return any(not error["loc"] for error in exc.errors(include_url=False))


_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _partial_reference_problems(
    merged: dict[str, Any], index: dict[_Path, _Origin], root: str, checks: Sequence[ConfigCheck]
) -> list[ConfigProblem]:
    """Cross-reference problems among the sections and list items that validate on their
    own, so that they are reported together with the field problems of the rest.

    An item that failed takes part without the values that failed (a user with an unknown
    time zone still counts as a user); one that cannot is left out, and findings that
    name it (`unknown user 'x'` where x is that item) are dropped, since they follow from
    its own problem. Item numbers are those of the whole list. When a required section
    fails as a whole, or the check cannot run on what is left, nothing is added.
    """
    sections: dict[str, Any] = {}
    kept_at: dict[str, list[int]] = {}
    failed: set[str] = set()
    for name, info in WarroomConfig.model_fields.items():
        if name not in merged:
            continue
        value, annotation = merged[name], info.annotation
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if annotation is None:
            continue
        if origin is list and isinstance(value, list):
            item_type: TypeAdapter[Any] = TypeAdapter(args[0])
            items, positions = [], []
            for position, item in enumerate(value):
                valid = _without_failing_values(item_type, item)
                if valid is None:
                    failed.update(_names_of(item))
                else:
                    items.append(valid)
                    positions.append(position)
            sections[name], kept_at[name] = items, positions
        elif origin is dict and isinstance(value, dict):
            key_type: TypeAdapter[Any] = TypeAdapter(args[0])
            value_type: TypeAdapter[Any] = TypeAdapter(args[1])
            entries = {}
            for key, item in value.items():
                valid = _without_failing_values(value_type, item)
                try:
                    if valid is None:
                        raise ValueError(key)
                    entries[key_type.validate_python(key)] = valid
                except ValueError:  # pydantic's ValidationError is one
                    failed.add(str(key))
            sections[name] = entries
        else:
            valid = _without_failing_values(TypeAdapter(annotation), value)
            if valid is not None:
                sections[name] = valid
            elif info.is_required():
                return []
    try:
        findings = reference_problems(WarroomConfig.model_construct(**sections), checks)
    except Exception:  # the rest is too broken to compare; its field problems say why
        return []
    kept: list[str] = []
    short = {name for name, at in kept_at.items() if len(at) < len(merged.get(name) or ())}
    for finding in findings:
        if failed and any(name in failed for name in _QUOTED.findall(finding)):
            continue
        if finding.split(":", 1)[0] in short:
            continue  # about a whole list some of whose items failed ("at least one...")
        kept.append(_renumber(finding, kept_at))
    return list(_findings(kept, merged, index, root))


def _without_failing_values(adapter: TypeAdapter[Any], value: Any) -> Any | None:
    """`value` validated, after dropping the mapping keys and list items that fail (so
    that defaults apply); None when that is not enough (a required field, a rule about
    the whole item)."""
    candidate = copy.deepcopy(value)
    for _ in range(8):
        try:
            return adapter.validate_python(candidate)
        except ValidationError as exc:
            drops: dict[int, tuple[Any, set[Any]]] = {}
            for error in exc.errors(include_url=False):
                loc = error["loc"]
                if not loc or error["type"] == "missing":
                    return None
                parent: Any = candidate
                for part in loc[:-1]:
                    try:
                        parent = parent[part]
                    except (KeyError, IndexError, TypeError):
                        return None
                key = loc[-1]
                if not (isinstance(parent, dict) and key in parent) and not (
                    isinstance(parent, list) and isinstance(key, int) and key < len(parent)
                ):
                    return None
                drops.setdefault(id(parent), (parent, set()))[1].add(key)
            for parent, keys in drops.values():
                for key in sorted(keys, reverse=True):
                    del parent[key]
    return None


def _names_of(item: object) -> set[str]:
    if not isinstance(item, dict):
        return set()
    return {str(item[key]) for key in ("name", "handle") if item.get(key) is not None}


def _renumber(finding: str, kept_at: Mapping[str, list[int]]) -> str:
    """`users.3.x: ...` among the kept items → the number of that item in the whole list."""
    match = _FINDING.match(finding)
    if match is None:
        return finding
    parts = match.group(1).split(".")
    positions = kept_at.get(parts[0])
    if positions is not None and len(parts) > 1 and parts[1].isdigit():
        number = int(parts[1])
        if number < len(positions):
            parts[1] = str(positions[number])
    return f"{'.'.join(parts)}: {match.group(2)}"


def _message(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return str(error["msg"])


def _locate(index: dict[_Path, _Origin], path: _Path, message: str, root: str) -> ConfigProblem:
    """Place a merged-config path at the nearest line we know: its own, or an ancestor's."""
    for cut in range(len(path), 0, -1):
        origin = index.get(path[:cut])
        if origin is not None:
            return ConfigProblem(
                origin.file, origin.line, _dotted(origin.src + path[cut:]), message
            )
    return ConfigProblem(root, None, _dotted(path), message)


def _pin_list_item(merged: dict[str, Any], path: _Path, text: str) -> _Path:
    """For "unknown user 'x'" on a list, point at the item that holds 'x'."""
    quoted = _QUOTED_TAIL.search(text)
    if quoted is None:
        return path
    try:
        wanted = ast.literal_eval(quoted.group(1))
    except (ValueError, SyntaxError):
        return path
    node: Any = merged
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return path
    if isinstance(node, list) and wanted in node:
        return (*path, str(node.index(wanted)))
    return path


def _unknown_field_message(loc: _Path) -> str:
    name = loc[-1] if loc else ""
    message = f"unknown field {name!r}"
    model = _model_at(loc[:-1])
    if model is None:
        return message
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; allowed: {', '.join(allowed)}"


def _model_at(loc: _Path) -> type[BaseModel] | None:
    """The schema model that validates the value at `loc`, when there is one."""
    current: Any = WarroomConfig
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part)
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to the type that holds fields."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _dotted(path: _Path) -> str:
    return ".".join(path)


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line or 0))
