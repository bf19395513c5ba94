"""Bounded, typed JSON for what write routes store, and defensive reads of what is stored (pure).

Free-form JSON a caller may store (impact notes, event details) is bounded in depth, key
count and size, and must be storable (see `warroom.jsonbody`); whatever is already
stored is rendered through `readable_impact` / `readable_details`, which never fail and
never return something a serializer cannot handle.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from warroom import jsonbody

# Impact notes beyond the known facts: flat, a few, short.
MAX_IMPACT_NOTES = 20
MAX_NOTE_TEXT = 1_000
MAX_NOTE_ITEMS = 50
NOTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")

# Event details: small documents.
MAX_DETAILS_DEPTH = 8
MAX_DETAILS_KEYS = 200
MAX_DETAILS_BYTES = 16 * 1024

_READ_MAX_ITEMS = 200
_READ_MAX_TEXT = 4_000
_ELIDED = "…"


def check_note(key: str, value: Any) -> None:
    """Raise ValueError unless (key, value) is a storable impact note: a scalar, or a flat
    list of at most MAX_NOTE_ITEMS scalars."""
    if not NOTE_KEY.match(key):
        raise ValueError(
            f"{_printable(key)}: impact note names are 1-64 letters, digits, '_', '.' or '-'"
        )
    if isinstance(value, list):
        if len(value) > MAX_NOTE_ITEMS:
            raise ValueError(f"{key}: at most {MAX_NOTE_ITEMS} items")
        for item in value:
            if isinstance(item, list | dict):
                raise ValueError(f"{key}: a list of strings, numbers, booleans or nulls")
            _check_scalar(key, item)
        return
    _check_scalar(key, value)


def _check_scalar(key: str, value: Any) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{key}: must be a finite number")
        return
    if isinstance(value, str):
        if len(value) > MAX_NOTE_TEXT:
            raise ValueError(f"{key}: at most {MAX_NOTE_TEXT} characters")
        jsonbody.check(value)
        return
    raise ValueError(f"{key}: an impact note is a string, number, boolean, null or a list of them")


def check_details(value: dict[str, Any]) -> dict[str, Any]:
    """Return `value` if it is a bounded, storable document; else raise ValueError."""
    try:
        jsonbody.check(value)
    except jsonbody.Unstorable as exc:
        raise ValueError(exc.message) from None
    depth, keys = _measure(value)
    if depth > MAX_DETAILS_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DETAILS_DEPTH} levels")
    if keys > MAX_DETAILS_KEYS:
        raise ValueError(f"more than {MAX_DETAILS_KEYS} fields and items")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_DETAILS_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_DETAILS_BYTES}")
    return value


def _measure(value: Any) -> tuple[int, int]:
    """(depth, number of fields and items) without recursion."""
    deepest, count = 0, 0
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            items = list(node.values()) if isinstance(node, dict) else list(node)
            count += len(items)
            todo.extend((item, depth + 1) for item in items)
    return deepest, count


def readable_impact(value: Any) -> dict[str, Any]:
    """What a stored impact shows: flat, scalar, bounded entries; anything else is dropped."""
    if not isinstance(value, dict):
        return {}
    shown: dict[str, Any] = {}
    for key, item in value.items():
        if len(shown) >= _READ_MAX_ITEMS:
            break
        if not isinstance(key, str) or not NOTE_KEY.match(key):
            continue
        if isinstance(item, list):
            items = [_readable_scalar(i) for i in item[:MAX_NOTE_ITEMS]]
            if _DROP not in items:  # a list of scalars; anything nested is dropped whole
                shown[key] = items
            continue
        scalar = _readable_scalar(item)
        if scalar is not _DROP:
            shown[key] = scalar
    return shown


def readable_details(value: Any) -> dict[str, Any]:
    """What stored event details show: at most MAX_DETAILS_DEPTH levels, bounded text."""
    if not isinstance(value, dict):
        return {}
    result = _prune(value, 1)
    return result if isinstance(result, dict) else {}


_DROP = object()


def _readable_scalar(item: Any) -> Any:
    if item is None or isinstance(item, bool | int):
        return item
    if isinstance(item, float):
        return item if math.isfinite(item) else None
    if isinstance(item, str):
        return _readable_text(item)
    return _DROP


def _readable_text(text: str) -> str:
    text = text[:_READ_MAX_TEXT].replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")


def _prune(node: Any, depth: int) -> Any:
    """A copy of `node` cut at MAX_DETAILS_DEPTH levels (recursion bounded by that depth)."""
    if isinstance(node, dict | list):
        if depth > MAX_DETAILS_DEPTH:
            return _ELIDED
        if isinstance(node, dict):
            items = list(node.items())[:_READ_MAX_ITEMS]
            return {_readable_text(str(k)): _prune(v, depth + 1) for k, v in items}
        return [_prune(v, depth + 1) for v in node[:_READ_MAX_ITEMS]]
    scalar = _readable_scalar(node)
    return None if scalar is _DROP else scalar


def _printable(key: str) -> str:
    shown = key[:64].encode("ascii", "backslashreplace").decode("ascii")
    return shown.replace("\x00", "\\x00") or "(empty name)"
