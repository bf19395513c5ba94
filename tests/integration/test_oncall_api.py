"""On-call through the API, on SQLite and PostgreSQL: the example schedules, schedules
defined through the API, overrides, who is on call, and iCalendar exports.

The clock stands at Friday 2024-03-15 09:30 UTC: in the example Incident Commander
rotation (weekly from Monday 2024-01-01 09:00 UTC, jane.smith then bob.wilson), jane is
primary and bob secondary from Monday 03-11 09:00 to Monday 03-18 09:00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from tests.conftest import Tokens
from warroom.clock import FakeClock


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entries(client: TestClient, token: str, **params: str) -> list[tuple[Any, ...]]:
    response = client.get("/api/v1/oncall", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return [
        (e["schedule"], e["layer"], e["user"], e["start"], e["end"])
        for e in response.json()["entries"]
    ]


def error_field(response: Any) -> str:
    return str(response.json()["error"]["details"]["field"])


IC_NOW = [
    ("incident-commander", "primary", "jane.smith", "2024-03-11T09:00:00Z", "2024-03-18T09:00:00Z"),
    (
        "incident-commander",
        "secondary",
        "bob.wilson",
        "2024-03-11T09:00:00Z",
        "2024-03-18T09:00:00Z",
    ),
]

NIGHTS = {
    "name": "db-nights",
    "title": "Database nights",
    "time_zone": "Europe/Berlin",
    "layers": [
        {
            "name": "primary",
            "rotation": "daily",
            "handoff_time": "20:00",
            "start": "2024-03-01",
            "participants": ["priya.patel", "tom.nguyen"],
            "restrictions": [{"type": "time_of_day", "start": "20:00", "end": "08:00"}],
        }
    ],
}


# --- configured schedules -------------------------------------------------------------


def test_who_is_on_call_in_the_example_schedules(client: TestClient, api_tokens: Tokens) -> None:
    found = entries(client, api_tokens.viewer)
    assert [e for e in found if e[0] == "incident-commander"] == IC_NOW
    # 2024-03-11 09:00 New York (EDT since 03-10) is 13:00 UTC.
    assert (
        "EM_ONCALL",
        "primary",
        "sarah.chen",
        "2024-03-11T13:00:00Z",
        "2024-03-18T13:00:00Z",
    ) in found
    # 10:30 in Berlin on a Friday: the business-hours layer has someone; the night-time
    # regions of follow-the-sun do not.
    assert any(e[:2] == ("platform", "business-hours") for e in found)
    assert [e[1] for e in found if e[0] == "follow-the-sun"] == ["emea"]


def test_one_schedule_at_a_given_time(client: TestClient, api_tokens: Tokens) -> None:
    response = client.get(
        "/api/v1/oncall",
        params={"schedule": "incident-commander", "at": "2024-03-18T09:00:00+00:00"},
        headers=auth(api_tokens.viewer),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["at"] == "2024-03-18T09:00:00Z"
    assert [(e["layer"], e["user"]) for e in body["entries"]] == [
        ("primary", "bob.wilson"),
        ("secondary", "jane.smith"),
    ]


def test_the_escalation_matrix_reference_resolves(client: TestClient, api_tokens: Tokens) -> None:
    found = entries(client, api_tokens.viewer, schedule="pagerduty://schedules/EM_ONCALL")
    assert [(e[0], e[2]) for e in found] == [("EM_ONCALL", "sarah.chen")]


def test_bad_lookups_name_the_field(client: TestClient, api_tokens: Tokens) -> None:
    headers = auth(api_tokens.viewer)
    missing = client.get("/api/v1/oncall", params={"schedule": "nope"}, headers=headers)
    assert missing.status_code == 404 and error_field(missing) == "schedule"
    naive = client.get("/api/v1/oncall", params={"at": "2024-03-15T09:00:00"}, headers=headers)
    assert naive.status_code == 422
    assert naive.json()["error"]["message"].startswith("at:")


def test_schedules_list_and_show(client: TestClient, api_tokens: Tokens) -> None:
    listed = client.get("/api/v1/schedules", headers=auth(api_tokens.viewer)).json()
    assert {"incident-commander", "platform", "follow-the-sun", "EM_ONCALL"} <= {
        s["name"] for s in listed
    }
    assert {s["source"] for s in listed} == {"config"}
    em = client.get("/api/v1/schedules/EM_ONCALL", headers=auth(api_tokens.viewer)).json()
    assert em["time_zone"] == "America/New_York"
    assert em["layers"][0]["handoff_time"] == "09:00"
    assert em["layers"][0]["handoff_day"] == "monday"


def test_reading_needs_a_token(client: TestClient) -> None:
    for path in (
        "/api/v1/oncall",
        "/api/v1/schedules",
        "/api/v1/schedules/EM_ONCALL/calendar.ics",
        "/api/v1/users/jane.smith/calendar.ics",
    ):
        assert client.get(path).status_code == 401, path


# --- API-defined schedules ------------------------------------------------------------


def test_an_admin_defines_and_deletes_a_schedule(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    for token in (api_tokens.viewer, api_tokens.responder):
        refused = client.post("/api/v1/schedules", json=NIGHTS, headers=auth(token))
        assert refused.status_code == 403
    created = client.post("/api/v1/schedules", json=NIGHTS, headers=auth(api_tokens.admin))
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/api/v1/schedules/db-nights"
    body = created.json()
    assert body["source"] == "api" and body["created_by"] == "admin"
    assert body["layers"][0]["restrictions"] == [
        {"type": "time_of_day", "days": [], "start": "20:00", "end": "08:00"}
    ]
    # 2024-03-15 09:30 UTC is 10:30 in Berlin: outside the night window.
    assert entries(client, api_tokens.viewer, schedule="db-nights") == []
    # 2024-03-14 20:00 Berlin started priya's night (13 days after 03-01: odd turn → tom).
    night = entries(client, api_tokens.viewer, schedule="db-nights", at="2024-03-14T23:00:00Z")
    assert night == [
        ("db-nights", "primary", "tom.nguyen", "2024-03-14T19:00:00Z", "2024-03-15T07:00:00Z")
    ]
    assert "db-nights" in {
        s["name"] for s in client.get("/api/v1/schedules", headers=auth(api_tokens.viewer)).json()
    }

    again = client.post("/api/v1/schedules", json=NIGHTS, headers=auth(api_tokens.admin))
    assert again.status_code == 409 and error_field(again) == "name"

    assert (
        client.delete("/api/v1/schedules/db-nights", headers=auth(api_tokens.responder)).status_code
        == 403
    )
    deleted = client.delete("/api/v1/schedules/db-nights", headers=auth(api_tokens.admin))
    assert deleted.status_code == 200 and deleted.json()["name"] == "db-nights"
    gone = client.get("/api/v1/schedules/db-nights", headers=auth(api_tokens.viewer))
    assert gone.status_code == 404


def test_configured_schedules_cannot_be_redefined_or_deleted(
    client: TestClient, api_tokens: Tokens
) -> None:
    clash = client.post(
        "/api/v1/schedules", json={**NIGHTS, "name": "EM_ONCALL"}, headers=auth(api_tokens.admin)
    )
    assert clash.status_code == 409 and error_field(clash) == "name"
    refused = client.delete("/api/v1/schedules/EM_ONCALL", headers=auth(api_tokens.admin))
    assert refused.status_code == 409
    assert "configuration" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Base"}, "time_zone"),
        (
            {"layers": [{"name": "p", "rotation": "custom", "participants": ["jane.smith"]}]},
            "layers.0",
        ),
        (
            {"layers": [{"name": "p", "participants": ["jane.smith", "nobody"]}]},
            "layers.0.participants.1",
        ),
        ({"layers": [{"name": "p", "handoff_time": "9am"}]}, "layers.0.handoff_time"),
        ({"name": "has space"}, "name"),
        ({"layers": [{"name": "p", "shifts": 3}]}, "layers.0.shifts"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    client: TestClient, api_tokens: Tokens, change: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/api/v1/schedules", json={**NIGHTS, **change}, headers=auth(api_tokens.admin)
    )
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    fields = [d["field"] for d in details] if isinstance(details, list) else [details["field"]]
    assert field in fields


# --- overrides ------------------------------------------------------------------------


def override(client: TestClient, token: str, schedule: str, **body: Any) -> Any:
    return client.post(f"/api/v1/schedules/{schedule}/overrides", json=body, headers=auth(token))


def test_a_responder_covers_a_shift_with_an_override(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    window = {"start": "2024-03-15T09:00:00Z", "end": "2024-03-15T18:00:00Z"}
    refused = override(
        client, api_tokens.viewer, "incident-commander", kind="replace", user="mike.chen",
        replaces="jane.smith", **window,
    )  # fmt: skip
    assert refused.status_code == 403
    created = override(
        client, api_tokens.responder, "incident-commander", kind="replace", user="mike.chen",
        replaces="jane.smith", reason="Jane at the dentist", **window,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    row = created.json()
    assert (row["kind"], row["user"], row["replaces"], row["layer"]) == (
        "replace", "mike.chen", "jane.smith", None,
    )  # fmt: skip
    assert (row["start"], row["end"]) == ("2024-03-15T09:00:00Z", "2024-03-15T18:00:00Z")

    assert entries(client, api_tokens.viewer, schedule="incident-commander") == [
        (
            "incident-commander",
            "primary",
            "mike.chen",
            "2024-03-15T09:00:00Z",
            "2024-03-15T18:00:00Z",
        ),
        IC_NOW[1],
    ]
    later = entries(
        client, api_tokens.viewer, schedule="incident-commander", at="2024-03-15T18:00:00Z"
    )
    assert later[0][1:] == ("primary", "jane.smith", "2024-03-15T18:00:00Z", "2024-03-18T09:00:00Z")

    listed = client.get(
        "/api/v1/schedules/incident-commander/overrides", headers=auth(api_tokens.viewer)
    ).json()
    assert [o["id"] for o in listed] == [row["id"]]

    cancelled = client.delete(
        f"/api/v1/schedules/incident-commander/overrides/{row['id']}",
        headers=auth(api_tokens.responder),
    )
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"] is not None
    assert entries(client, api_tokens.viewer, schedule="incident-commander") == IC_NOW
    assert (
        client.get(
            "/api/v1/schedules/incident-commander/overrides", headers=auth(api_tokens.viewer)
        ).json()
        == []
    )
    everything = client.get(
        "/api/v1/schedules/incident-commander/overrides",
        params={"all": "true"},
        headers=auth(api_tokens.viewer),
    ).json()
    assert [o["id"] for o in everything] == [row["id"]]


def test_add_and_remove_overrides(client: TestClient, api_tokens: Tokens) -> None:
    window = {"start": "2024-03-15T00:00:00Z", "end": "2024-03-16T00:00:00Z"}
    t = api_tokens.responder
    assert (
        override(
            client, t, "incident-commander", kind="remove", layer="secondary", **window
        ).status_code
        == 201
    )
    assert (
        override(
            client, t, "incident-commander", kind="add", user="lena.kovacs", **window
        ).status_code
        == 201
    )
    assert entries(client, api_tokens.viewer, schedule="incident-commander") == [
        IC_NOW[0],
        ("incident-commander", None, "lena.kovacs", "2024-03-15T00:00:00Z", "2024-03-16T00:00:00Z"),
    ]


DAY = {"start": "2024-03-15T00:00:00Z", "end": "2024-03-16T00:00:00Z"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "add", "user": "jane.smith", **DAY, "end": "2024-03-14T00:00:00Z"}, "end"),
        ({"kind": "add", "user": "nobody", **DAY}, "user"),
        ({"kind": "add", "user": "jane.smith", "layer": "tertiary", **DAY}, "layer"),
        ({"kind": "replace", "user": "jane.smith", **DAY}, "replaces"),
        ({"kind": "remove", "replaces": "jane.smith", **DAY}, "replaces"),
        ({"kind": "add", **DAY}, "user"),
        ({"kind": "swap", "user": "jane.smith", **DAY}, "kind"),
        ({"kind": "add", "user": "jane.smith", **DAY, "start": "2024-03-15T00:00:00"}, "start"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(
    client: TestClient, api_tokens: Tokens, body: dict[str, Any], field: str
) -> None:
    response = override(client, api_tokens.responder, "incident-commander", **body)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    fields = [d["field"] for d in details] if isinstance(details, list) else [details["field"]]
    assert field in fields


def test_overrides_of_unknown_schedules_and_ids(client: TestClient, api_tokens: Tokens) -> None:
    window = {"start": "2024-03-15T00:00:00Z", "end": "2024-03-16T00:00:00Z"}
    missing = override(
        client, api_tokens.responder, "nope", kind="add", user="jane.smith", **window
    )
    assert missing.status_code == 404
    gone = client.delete(
        "/api/v1/schedules/incident-commander/overrides/999", headers=auth(api_tokens.responder)
    )
    assert gone.status_code == 404 and error_field(gone) == "id"


# --- shifts and iCalendar -------------------------------------------------------------


def events(body: bytes) -> list[dict[str, Any]]:
    calendar = Calendar.from_ical(body)
    return [
        {
            "uid": str(e["UID"]),
            "summary": str(e["SUMMARY"]),
            "start": e.decoded("DTSTART"),
            "end": e.decoded("DTEND"),
        }
        for e in calendar.walk("VEVENT")
    ]


def test_a_schedule_as_icalendar(client: TestClient, api_tokens: Tokens) -> None:
    params = {"from": "2024-03-11T09:00:00Z", "to": "2024-03-25T09:00:00Z"}
    response = client.get(
        "/api/v1/schedules/incident-commander/calendar.ics",
        params=params,
        headers=auth(api_tokens.viewer),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert (
        b"BEGIN:VCALENDAR" in response.content and b"DTSTART:20240311T090000Z" in response.content
    )
    found = events(response.content)
    monday = {day: datetime(2024, 3, day, 9, tzinfo=UTC) for day in (11, 18, 25)}
    assert [(e["summary"], e["start"], e["end"]) for e in found] == [
        ("On call: jane.smith (primary)", monday[11], monday[18]),
        ("On call: bob.wilson (secondary)", monday[11], monday[18]),
        ("On call: bob.wilson (primary)", monday[18], monday[25]),
        ("On call: jane.smith (secondary)", monday[18], monday[25]),
    ]
    assert len({e["uid"] for e in found}) == 4
    # The same shifts keep their UIDs in another export with another window.
    wider = client.get(
        "/api/v1/schedules/incident-commander/calendar.ics",
        params={"from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z"},
        headers=auth(api_tokens.viewer),
    )
    assert {e["uid"] for e in found} <= {e["uid"] for e in events(wider.content)}


def test_the_default_calendar_window_is_last_week_to_two_months_ahead(
    client: TestClient, api_tokens: Tokens
) -> None:
    response = client.get(
        "/api/v1/schedules/EM_ONCALL/calendar.ics", headers=auth(api_tokens.viewer)
    )
    found = events(response.content)
    # Now is 2024-03-15 09:30: from 03-08 09:30 to 05-14 09:30, weekly Monday turns.
    assert found[0]["start"] == datetime(2024, 3, 4, 14, tzinfo=UTC)  # EST still
    assert found[-1]["start"] == datetime(2024, 5, 13, 13, tzinfo=UTC)
    assert len(found) == 11


def test_a_users_shifts_across_schedules(client: TestClient, api_tokens: Tokens) -> None:
    response = client.get(
        "/api/v1/users/jane.smith/calendar.ics",
        params={"from": "2024-03-15T00:00:00Z", "to": "2024-03-17T00:00:00Z"},
        headers=auth(api_tokens.viewer),
    )
    assert response.status_code == 200, response.text
    found = events(response.content)
    summaries = {e["summary"] for e in found}
    # The IC primary turn, and the americas evenings of follow-the-sun.
    assert "On call: jane.smith (primary)" in summaries
    assert "On call: jane.smith (americas)" in summaries
    assert all("jane.smith" in s for s in summaries)
    unknown = client.get("/api/v1/users/nobody/calendar.ics", headers=auth(api_tokens.viewer))
    assert unknown.status_code == 404


def test_shifts_as_json_and_window_limits(client: TestClient, api_tokens: Tokens) -> None:
    response = client.get(
        "/api/v1/schedules/follow-the-sun/shifts",
        params={"from": "2024-03-15T00:00:00Z", "to": "2024-03-16T00:00:00Z"},
        headers=auth(api_tokens.viewer),
    )
    body = response.json()
    assert (body["from"], body["to"]) == ("2024-03-15T00:00:00Z", "2024-03-16T00:00:00Z")
    assert [(s["layer"], s["start"], s["end"]) for s in body["shifts"]] == [
        ("apac", "2024-03-15T00:00:00Z", "2024-03-15T08:00:00Z"),
        ("emea", "2024-03-15T08:00:00Z", "2024-03-15T16:00:00Z"),
        ("americas", "2024-03-15T16:00:00Z", "2024-03-16T00:00:00Z"),
    ]
    too_long = client.get(
        "/api/v1/schedules/follow-the-sun/calendar.ics",
        params={"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=auth(api_tokens.viewer),
    )
    assert too_long.status_code == 422 and error_field(too_long) == "to"


def test_far_dates_and_huge_renderings_are_refused(client: TestClient, api_tokens: Tokens) -> None:
    far = client.get(
        "/api/v1/oncall", params={"at": "9999-12-31T23:00:00Z"}, headers=auth(api_tokens.viewer)
    )
    assert far.status_code == 422 and error_field(far) == "at"
    turn = {"rotation": "custom", "shift_length": "1 minute", "participants": ["jane.smith"]}
    minutes = {"name": "every-minute", "layers": [{"name": "p", **turn}]}
    created = client.post("/api/v1/schedules", json=minutes, headers=auth(api_tokens.admin))
    assert created.status_code == 201, created.text
    year = client.get(
        "/api/v1/schedules/every-minute/calendar.ics",
        params={"from": "2024-01-01T00:00:00Z", "to": "2024-12-31T00:00:00Z"},
        headers=auth(api_tokens.viewer),
    )
    assert year.status_code == 422 and error_field(year) == "to"
    hour = client.get(
        "/api/v1/schedules/every-minute/shifts",
        params={"from": "2024-01-01T00:00:00Z", "to": "2024-01-01T01:00:00Z"},
        headers=auth(api_tokens.viewer),
    )
    assert hour.status_code == 200 and len(hour.json()["shifts"]) == 60


def test_a_schedule_redefined_under_the_same_name_answers_with_its_new_definition(
    client: TestClient, api_tokens: Tokens
) -> None:
    # SQLite gives the new row the deleted row's id: the compiled schedule must not be reused.
    first = {"name": "again", "layers": [{"name": "p", "participants": ["jane.smith"]}]}
    second = {"name": "again", "layers": [{"name": "p", "participants": ["bob.wilson"]}]}
    for spec, expected in ((first, "jane.smith"), (second, "bob.wilson")):
        made = client.post("/api/v1/schedules", json=spec, headers=auth(api_tokens.admin))
        assert made.status_code == 201, made.text
        assert [e[2] for e in entries(client, api_tokens.viewer, schedule="again")] == [expected]
        gone = client.delete("/api/v1/schedules/again", headers=auth(api_tokens.admin))
        assert gone.status_code == 200
