"""The command line's own parsing and its API client, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import typer

from warroom.cli.triage import number_answer, yes_no_answer
from warroom.client import ApiClient, ApiError, Unreachable
from warroom.terminal.options import ROLE_KEYS, parse_details, parse_when, role_key
from warroom.terminal.output import human_duration

NOW = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("ic", "incident_commander"),
        ("IC", "incident_commander"),
        ("commander", "incident_commander"),
        ("incident-commander", "incident_commander"),
        ("tl", "technical_lead"),
        ("comms", "communications_lead"),
        ("scribe", "scribe"),
        ("sme", "sme"),
        ("ops", "operations_lead"),
        ("Operations Lead", "operations_lead"),
    ],
)
def test_role_aliases_map_to_the_api_role_keys(given: str, key: str) -> None:
    assert role_key(given) == key


def test_every_role_key_is_its_own_alias() -> None:
    assert [role_key(k) for k in ROLE_KEYS] == list(ROLE_KEYS)


def test_an_unknown_role_is_a_usage_error_listing_the_roles() -> None:
    with pytest.raises(typer.BadParameter, match="incident_commander"):
        role_key("boss")


def test_details_are_key_value_pairs_with_json_values_typed() -> None:
    pairs = ["pool=exhausted", "count=3", "ok=true", "note=a=b", "empty=", "x=NaN"]
    assert parse_details(pairs) == {
        "pool": "exhausted",
        "count": 3,
        "ok": True,
        "note": "a=b",
        "empty": "",
        "x": "NaN",
    }


@pytest.mark.parametrize("bad", ["novalue", "=value"])
def test_a_detail_without_a_key_is_a_usage_error(bad: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_details([bad])


def test_event_times() -> None:
    assert parse_when("now", now=NOW) == NOW
    assert parse_when("15m ago", now=NOW) == NOW - timedelta(minutes=15)
    assert parse_when("-2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_when("2024-03-15T08:00:00+00:00", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_when("2024-03-15T08:00:00Z", now=NOW) == NOW - timedelta(minutes=90)
    naive = parse_when("2024-03-15T08:00:00", now=NOW)
    assert naive.tzinfo is not None  # taken as local time
    clock = parse_when("08:05", now=NOW)
    assert (clock.hour, clock.minute) == (8, 5) and clock.tzinfo is not None


@pytest.mark.parametrize("bad", ["yesterday-ish", "25:99", "2024-13-45"])
def test_a_bad_time_is_a_usage_error(bad: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_when(bad, now=NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (60, "1m"), (754, "12m"), (3 * 3600 + 300, "3h 05m"),
     (2 * 86400 + 4 * 3600, "2d 4h"), (-5, "0s")],
)  # fmt: skip
def test_human_durations(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_prompt_answers() -> None:
    percent = number_answer(0, 100)
    assert percent("15") == 15.0
    for bad in ("abc", "150", "-1", "nan"):
        with pytest.raises(typer.BadParameter):
            percent(bad)
    assert number_answer(0)("20000") == 20000.0
    assert [yes_no_answer(a) for a in ("y", "Yes", "n", "NO")] == [True, True, False, False]
    with pytest.raises(typer.BadParameter):
        yes_no_answer("maybe")


# --- the API client -----------------------------------------------------------------------


def client_answering(response: httpx.Response) -> ApiClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return response

    return ApiClient("http://warroom.test", "secret-token", transport=httpx.MockTransport(handler))


def test_the_client_sends_the_token_and_reads_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    with ApiClient("http://warroom.test/", "tok", transport=httpx.MockTransport(handler)) as api:
        assert api.get("/api/v1/incidents", params={"status": ["open"], "service": None}) == {
            "items": []
        }
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert str(seen[0].url) == "http://warroom.test/api/v1/incidents?status=open"


def test_server_errors_become_api_errors_naming_the_field() -> None:
    body = {
        "error": {
            "code": "validation_error",
            "message": "unknown severity 'SEV9'; one of: SEV1, SEV2",
            "details": {"field": "severity"},
        }
    }
    with client_answering(httpx.Response(422, json=body)) as api, pytest.raises(ApiError) as caught:
        api.post("/api/v1/incidents", {})
    assert caught.value.status == 422
    assert caught.value.describe() == "severity: unknown severity 'SEV9'; one of: SEV1, SEV2"


def test_auth_errors_say_so() -> None:
    body = {"error": {"code": "unauthorized", "message": "invalid or revoked token"}}
    with client_answering(httpx.Response(401, json=body)) as api, pytest.raises(ApiError) as caught:
        api.get("/api/v1/whoami")
    assert caught.value.describe().startswith("unauthorized (401): invalid or revoked token")
    assert "secret-token" not in caught.value.describe()


def test_a_non_json_error_keeps_the_status_line() -> None:
    answer = httpx.Response(502, text="<html>Bad gateway</html>")
    with client_answering(answer) as api, pytest.raises(ApiError, match="HTTP 502"):
        api.get("/api/v1/incidents")


def test_a_connection_failure_is_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api = ApiClient("http://warroom.test", transport=httpx.MockTransport(handler))
    with api, pytest.raises(Unreachable, match=r"cannot reach warroom at http://warroom\.test"):
        api.get("/api/v1/incidents")
