"""JSON bodies on the intake routes: parsed, then checked that they can be stored (pure).

Some JSON parses and still can never be stored: a lone surrogate (`"\\ud800"`) is not
UTF-8, PostgreSQL text holds no NUL character, `NaN` and `Infinity` are not JSON to
anyone who reads the payload back, and a body nested a thousand levels deep breaks every
recursive reader after the parser. Such a body is the sender's mistake and will fail the
same way every time: it is answered 400 naming the field, before anything is queued,
never 503 (which senders retry forever).

The check is one walk over the parsed body; the path to the offending field is worked
out only when there is one.

On the intake routes this runs for every event, so a body is read the fast way when that
gives exactly the same answer (`_fast`): orjson parses it (several times faster than the
json module) and refuses by itself everything the walk would look for but NUL characters
and depth, which the raw bytes rule out without a walk in the usual case. Anything orjson
refuses, or reads differently from the json module, goes the slow way, so that the value
and every error stay as the json module and the walk make them.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# Levels of objects and arrays, the body itself being the first. Real alert payloads use
# well under ten; the limit stays far below the depth at which recursive readers fail.
MAX_DEPTH = 32


class Unstorable(ValueError):
    """Valid JSON that can never be stored; `field` is the dotted path to the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.message = f"{field}: {problem}"


def parse(raw: bytes | str) -> Any:
    """Parse a JSON body and check it; raise ValueError (not JSON) or Unstorable."""
    if isinstance(raw, bytes):
        value = _fast(raw)
        if value is not _SLOW:
            return value
    try:
        value = json.loads(raw)
    except RecursionError:
        raise Unstorable("body", f"nested deeper than {MAX_DEPTH} levels") from None
    check(value)
    return value


_SLOW = object()
# orjson reads an integer beyond 64 bits as a float, where the json module keeps it whole;
# a run of 19 digits anywhere (in a string too, harmlessly) sends the body the slow way.
# It is found by turning every digit into "0" and every other byte into a space, then
# looking for nineteen "0"s: two passes in C, several times cheaper than a regular
# expression for `[0-9]{19}`, which tries a match at every digit.
_DIGITS_ONLY = bytes(ord("0") if chr(byte) in "0123456789" else ord(" ") for byte in range(256))
_LONG_NUMBER = b"0" * 19


def _orjson_exact(raw: bytes) -> Any:
    """`raw` parsed by orjson, or _SLOW where only the json module reads it right: a
    19-digit run, or anything orjson refuses."""
    if _LONG_NUMBER in raw.translate(_DIGITS_ONLY):
        return _SLOW
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _SLOW


def _fast(raw: bytes) -> Any:
    """The body parsed and checked by orjson, or _SLOW when only the json module and the
    full walk can say what it is.

    What orjson parses, it reads exactly as the json module does (tested number by number
    in `tests/unit/test_jsonbody.py`), except integers of 19 digits or more. It refuses
    NaN, Infinity, numbers too large for a double, lone surrogates (escaped or in the
    bytes), invalid UTF-8, a byte-order mark and nesting beyond 1,024 levels; all of those
    go the slow way. What is left to check: a NUL character, which JSON can only carry as
    the escape `\\u0000`, and depth, which is at most the number of `{` and `[` bytes."""
    value = _orjson_exact(raw)
    if value is _SLOW:
        return _SLOW
    if b"\\u0000" in raw:
        check(value)
    elif raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and not _within_depth(value):
        check(value)  # raises, naming the field as the slow way does
    return value


def loads_stored(raw: bytes | bytearray | memoryview | str) -> Any:
    """A JSON value read back from the database (PostgreSQL's `json` columns): by orjson,
    several times faster, where it reads exactly what the json module would (see `_fast`),
    else by the json module. Routing reads three such columns of every alert."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    value = _orjson_exact(data)
    return json.loads(data) if value is _SLOW else value


def _within_depth(value: Any) -> bool:
    """Whether `value` nests at most MAX_DEPTH levels (containers only, level by level)."""
    level, depth = ([value] if isinstance(value, dict | list) else []), 1
    while level:
        if depth > MAX_DEPTH:
            return False
        deeper: list[Any] = []
        for node in level:
            items = node.values() if isinstance(node, dict) else node
            deeper += [item for item in items if isinstance(item, dict | list)]
        level, depth = deeper, depth + 1
    return True


def check(value: Any) -> None:
    """Raise Unstorable if any string in `value` (keys too) holds a NUL character or a lone
    surrogate, any number is not finite, or it nests deeper than MAX_DEPTH."""
    if not _storable(value):
        found = _find_problem(value)
        # _storable and _find_problem apply the same rules: one fails exactly when the other finds.
        assert found is not None
        raise Unstorable(*found)


def _text_ok(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _storable(value: Any) -> bool:
    """The fast walk: no paths, just yes or no."""
    if isinstance(value, str):
        return _text_ok(value)
    if isinstance(value, float):
        return math.isfinite(value)
    if not isinstance(value, dict | list):
        return True
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, dict):
            for key, item in node.items():
                if not _text_ok(key):
                    return False
                if isinstance(item, str):
                    if not _text_ok(item):
                        return False
                elif isinstance(item, float):
                    if not math.isfinite(item):
                        return False
                elif isinstance(item, dict | list):
                    todo.append((item, depth + 1))
        else:
            for item in node:
                if isinstance(item, str):
                    if not _text_ok(item):
                        return False
                elif isinstance(item, float):
                    if not math.isfinite(item):
                        return False
                elif isinstance(item, dict | list):
                    todo.append((item, depth + 1))
    return True


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    if not _text_ok(text):
        return "contains a lone UTF-16 surrogate, which is not valid Unicode text"
    return None


def _label(path: tuple[str, ...]) -> str:
    return ".".join(path) or "body"


def _find_problem(value: Any) -> tuple[str, str] | None:
    """The slow walk, in document order: (path, problem) of the first problem."""
    todo: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while todo:
        node, path = todo.pop()
        if isinstance(node, str):
            problem = _text_problem(node)
            if problem:
                return _label(path), problem
        elif isinstance(node, float):
            if not math.isfinite(node):
                word = "NaN" if math.isnan(node) else "Infinity"
                return _label(path), f"{word} is not a JSON number; send a finite number or null"
        elif isinstance(node, dict | list):
            if len(path) >= MAX_DEPTH:
                return _label(path), f"nested deeper than {MAX_DEPTH} levels"
            items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            children = []
            for key, item in items:
                name = key if isinstance(key, str) else str(key)
                if isinstance(key, str):
                    problem = _text_problem(key)
                    if problem:
                        return _label((*path, _printable(key))), f"the field name {problem}"
                children.append((item, (*path, name)))
            todo.extend(reversed(children))
    return None


def _printable(key: str) -> str:
    """A field name fit for an error message (ASCII escapes for what cannot be shown)."""
    return key.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00")
