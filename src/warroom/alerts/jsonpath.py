"""A small JSONPath-like language for webhook mappings: `$.a.b`, `$.items[0].name`, `$.a[*]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

# --- a tiny JSONPath ----------------------------------------------------------------------
#
# path    := root step*            root: `$` the whole body, `@` the current event
# step    := `.` name | `.*` | `[` integer `]` | `[*]` | `[` quoted name `]`
#
# A path without a root (`title`, `labels.severity`) is read from `@`.


class PathError(ValueError):
    """A path that cannot be parsed."""


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    position: int


@dataclass(frozen=True)
class Wildcard:
    pass


Step = Key | Index | Wildcard

_NAME = re.compile(r"[^.\[\]\s'\"]+")
_BRACKET = re.compile(r"\[\s*(?:(\*)|(-?\d+)|'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*\]")


@dataclass(frozen=True)
class JsonPath:
    text: str
    root: Literal["$", "@"]
    steps: tuple[Step, ...]

    @property
    def multiple(self) -> bool:
        """True when the path can match several values (it has a wildcard)."""
        return any(isinstance(step, Wildcard) for step in self.steps)

    def find(self, body: Any, current: Any = None) -> list[Any]:
        """Every value the path matches, in document order; [] when nothing matches."""
        matches = [body if self.root == "$" or current is None else current]
        for step in self.steps:
            matches = [found for value in matches for found in _apply(step, value)]
            if not matches:
                break
        return matches

    def container_exists(self, body: Any, current: Any = None) -> bool:
        """True when the part before the first wildcard matches (possibly an empty array)."""
        prefix: list[Step] = []
        for step in self.steps:
            if isinstance(step, Wildcard):
                break
            prefix.append(step)
        return bool(JsonPath(self.text, self.root, tuple(prefix)).find(body, current))


def _apply(step: Step, value: Any) -> list[Any]:
    if isinstance(step, Key):
        if isinstance(value, dict) and step.name in value:
            return [value[step.name]]
        return []
    if isinstance(step, Index):
        if isinstance(value, list) and -len(value) <= step.position < len(value):
            return [value[step.position]]
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@lru_cache(maxsize=1024)
def compile_path(text: str) -> JsonPath:
    """Parse a path such as `$.alerts[*].labels['team name']`; raise PathError on bad syntax."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a path must be a non-empty string such as $.title")
    source = text.strip()
    root: Literal["$", "@"] = "@"
    pos = 0
    if source[0] in "$@":
        root = "$" if source[0] == "$" else "@"
        pos = 1
    else:
        # A bare `title.text` reads from the current event, as if written `@.title.text`.
        source = "@." + source
        pos = 1
    steps: list[Step] = []
    while pos < len(source):
        char = source[pos]
        if char == ".":
            if source.startswith(".*", pos):
                steps.append(Wildcard())
                pos += 2
                continue
            match = _NAME.match(source, pos + 1)
            if match is None:
                raise PathError(f"expected a field name after '.' at position {pos} in {text!r}")
            steps.append(Key(match.group(0)))
            pos = match.end()
        elif char == "[":
            match = _BRACKET.match(source, pos)
            if match is None:
                raise PathError(f"expected [number], [*] or ['name'] at position {pos} in {text!r}")
            star, number, single, double = match.groups()
            if star:
                steps.append(Wildcard())
            elif number is not None:
                steps.append(Index(int(number)))
            else:
                steps.append(Key(_unescape(single if single is not None else double)))
            pos = match.end()
        else:
            raise PathError(f"unexpected {char!r} at position {pos} in {text!r}")
    return JsonPath(text=text, root=root, steps=tuple(steps))
