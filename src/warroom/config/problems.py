"""Configuration problems: each with its file, line and dotted field path, all at once.

Turns pydantic's validation errors and the cross-reference findings (`dotted.path: text`)
into `ConfigProblem`s placed at the line that gave the value, and compares references
among the parts of a configuration that validate when others do not.
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from warroom.config.schema import ConfigCheck, WarroomConfig, reference_problems

#: A path in the merged configuration: section, item number or key, field...
ConfigPath = tuple[str, ...]


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


@dataclass
class Origin:
    """Where a merged path came from: its file, line and path in that file."""

    file: str
    line: int | None
    src: ConfigPath


# --- turning validation errors into problems ---------------------------------------------

# The schema's cross-reference check joins its findings with "; ", each "dotted.path: text".
_FINDING_SPLIT = re.compile(r"; (?=[\w.-]+: )")
_FINDING = re.compile(r"^([\w.-]+): (.*)$", re.DOTALL)
_QUOTED_TAIL = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")$")


def validation_problems(
    exc: ValidationError,
    merged: dict[str, Any],
    index: dict[ConfigPath, Origin],
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
    findings: Iterable[str], merged: dict[str, Any], index: dict[ConfigPath, Origin], root: str
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


def references_checked(exc: ValidationError) -> bool:
    """Did the schema get as far as comparing references (every field validated)?"""
    return any(not error["loc"] for error in exc.errors(include_url=False))


_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def partial_reference_problems(
    merged: dict[str, Any],
    index: dict[ConfigPath, Origin],
    root: str,
    checks: Sequence[ConfigCheck],
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


def _locate(
    index: dict[ConfigPath, Origin], path: ConfigPath, message: str, root: str
) -> ConfigProblem:
    """Place a merged-config path at the nearest line we know: its own, or an ancestor's."""
    for cut in range(len(path), 0, -1):
        origin = index.get(path[:cut])
        if origin is not None:
            return ConfigProblem(
                origin.file, origin.line, _dotted(origin.src + path[cut:]), message
            )
    return ConfigProblem(root, None, _dotted(path), message)


def _pin_list_item(merged: dict[str, Any], path: ConfigPath, text: str) -> ConfigPath:
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


def _unknown_field_message(loc: ConfigPath) -> str:
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


def _model_at(loc: ConfigPath) -> type[BaseModel] | None:
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


def _dotted(path: ConfigPath) -> str:
    return ".".join(path)


def sorted_problems(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line or 0))
