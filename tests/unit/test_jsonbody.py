"""`jsonbody.parse` reads a body the fast way (orjson) only when that gives exactly what the
json module and the full check give: the same value, or the same refusal naming the field."""

from __future__ import annotations

import json
import math
import random
import re
import struct

import pytest

from warroom import jsonbody
from warroom.jsonbody import MAX_DEPTH, Unstorable


def slow(raw: bytes) -> object:
    """What parse answered before the fast path: the json module, then the full walk."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise Unstorable("body", f"nested deeper than {MAX_DEPTH} levels") from None
    jsonbody.check(value)
    return value


def outcome(read: object, raw: bytes) -> tuple[str, object]:
    try:
        value = read(raw)  # type: ignore[operator]
    except Unstorable as exc:
        return ("unstorable", (exc.field, exc.problem))
    except ValueError:
        return ("not json", None)
    return ("value", repr(value))


def numbers(count: int) -> list[bytes]:
    rng = random.Random(17)
    found: list[bytes] = []
    while len(found) < count:
        kind = len(found) % 5
        if kind == 0:
            f = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        elif kind == 1:
            f = rng.uniform(-1e6, 1e6)
        elif kind == 2:
            f = rng.random() * 10 ** rng.randint(-320, 308)
        elif kind == 3:
            f = round(rng.uniform(-100, 100), rng.randint(0, 17))
        else:
            found.append(
                str(rng.randint(-(10 ** rng.randint(1, 25)), 10 ** rng.randint(1, 25))).encode()
            )
            continue
        if math.isfinite(f):
            digits = rng.randint(1, 18)
            found += [repr(f).encode(), f"{f:.{digits}e}".encode(), f"{f:.{digits}E}".encode()]
    return found


def test_every_number_reads_as_the_json_module_reads_it() -> None:
    for raw in numbers(30_000):
        body = b'{"n": ' + raw + b', "list": [' + raw + b"]}"
        assert outcome(jsonbody.parse, body) == outcome(slow, body), body


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": "x\\u0000y"}',  # NUL, escaped
        b'{"a\\u0000": 1}',  # in a field name
        b'{"a": NaN}',
        b'{"a": [Infinity]}',
        b'{"a": -Infinity}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',  # a lone surrogate, escaped
        b'{"a": "\xed\xa0\x80"}',  # and as bytes
        b'{"a": "\\ud83d\\ude00"}',  # a pair is fine
        b'\xef\xbb\xbf{"a": 1}',  # a byte-order mark
        b'{"a": 18446744073709551616}',  # beyond 64 bits
        b'{"a": -9223372036854775809}',
        b'{"a": 12345678901234567890.5}',
        b'{"a": 1, "a": 2}',  # the last one wins, both ways
        b'{"a": "\\u00e9\xc3\xa9"}',
        b'{"a": "\x01"}',  # a raw control character
        b'{"a": 1,}',
        b"",
        b"not json",
        b'"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"',  # braces in a string only
        b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
        b'{"ok": [' + b'{"x": 1},' * 50 + b'{"deep": ' + b"[" * 40 + b"]" * 40 + b"}]}",
        b"[" * 2000 + b"]" * 2000,  # beyond orjson's own limit
        b'{"a": "\\u0000", "b": ' + b"[" * 34 + b"]" * 34 + b"}",  # NUL first, then depth
    ],
)
def test_refusals_and_values_are_those_of_the_slow_way(raw: bytes) -> None:
    assert outcome(jsonbody.parse, raw) == outcome(slow, raw)


def test_the_refusal_names_the_field() -> None:
    with pytest.raises(Unstorable) as caught:
        jsonbody.parse(b'{"payload": {"summary": "a\\u0000b"}}')
    assert caught.value.field == "payload.summary"
    deep = b'{"payload": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
    with pytest.raises(Unstorable) as caught:
        jsonbody.parse(deep)
    assert caught.value.problem == f"nested deeper than {MAX_DEPTH} levels"


def test_a_run_of_19_digits_anywhere_goes_the_slow_way() -> None:
    """Exactly the bodies in which `[0-9]{19}` is found (a string that orjson parses, so only
    the digit check can send it the slow way); other bytes between digits break the run."""
    rng = random.Random(19)
    pieces = ["0", "9", "5", "a", " ", ".", "-", "é", "٣", "\\u0030", "/", ":"]
    for _ in range(3_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        run = "7" * rng.choice([17, 18, 19, 20])
        at = rng.randint(0, len(text))
        raw = json.dumps({"a": text[:at] + run + text[at:]}, ensure_ascii=False).encode()
        expected = re.search(rb"[0-9]{19}", raw) is not None
        assert (jsonbody._fast(raw) is jsonbody._SLOW) == expected, raw


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1.5, -2e-3, null, true], "c": "caf\\u00e9 \\ud83d\\ude00"}',
        '{"n": 1180591620717411303424, "m": 1.5}',  # beyond 64 bits: whole, as json keeps it
        '{"x": 1e400}',  # too large for orjson: the json module's inf
        "[]",
        '"text"',
        '{"k": 1, "k": 2}',
    ],
)
def test_stored_json_reads_as_the_json_module_reads_it(text: str) -> None:
    expected = json.loads(text)
    for raw in (text, text.encode(), memoryview(text.encode())):
        value = jsonbody.loads_stored(raw)
        assert value == expected and type(value) is type(expected)
        assert repr(value) == repr(expected)


def test_the_database_reads_json_columns_with_it() -> None:
    from warroom.db import make_engine

    engine = make_engine("sqlite://")
    assert engine.dialect._json_deserializer is jsonbody.loads_stored  # type: ignore[attr-defined]
