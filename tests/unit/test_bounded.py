"""Bounded JSON for what write routes store, and defensive reads of what is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from warroom.hardening import bounded


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("notes", {"a": 1}),
        ("notes", [[1]]),
        ("notes", "x" * 1001),
        ("notes", float("nan")),
        ("notes", "a\x00b"),
        ("notes", "\ud800"),
        ("notes", list(range(51))),
        ("two words", 1),
        ("", 1),
    ],
)
def test_notes_refused(key: str, value: Any) -> None:
    with pytest.raises(ValueError):
        bounded.check_note(key, value)


@pytest.mark.parametrize("value", [None, True, 3, 2.5, "text", ["a", 1, None]])
def test_notes_accepted(value: Any) -> None:
    bounded.check_note("region", value)


def test_details_bounds() -> None:
    assert bounded.check_details(nested(7)) == nested(7)
    for bad in (
        nested(9),
        {"k": list(range(201))},
        {"k": "x" * 17_000},
        {"k": float("inf")},
        {"k\x00": 1},
    ):
        with pytest.raises(ValueError):
            bounded.check_details(bad)


def test_readable_impact_keeps_only_flat_entries() -> None:
    stored = {
        "revenue_loss": 10.0,
        "teams": ["a", "b"],
        "deep": nested(300),
        "mixed": ["a", {"b": 1}],
        "nan": float("nan"),
        "big": "y" * 10_000,
        "bad key": 1,
        7: "x",
    }
    shown = bounded.readable_impact(stored)
    assert shown == {"revenue_loss": 10.0, "teams": ["a", "b"], "nan": None, "big": "y" * 4000}
    assert bounded.readable_impact(["not", "a", "dict"]) == {}
    assert bounded.readable_impact(None) == {}


def test_readable_details_cut_deep_documents() -> None:
    shown = bounded.readable_details({"impact": nested(500), "ok": [1, 2]})
    text = json.dumps(shown)  # serializable, however deep the stored document
    assert text.count("{") <= bounded.MAX_DETAILS_DEPTH + 1
    assert shown["ok"] == [1, 2]
    assert bounded.readable_details("text") == {}
