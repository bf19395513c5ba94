"""iCalendar exports over HTTP, read back by `icalendar` and `vobject`, and the secret
calendar feeds that calendar apps subscribe to without a token.

The clock stands at Friday 2024-03-15 09:30 UTC; in the example Incident Commander
rotation jane.smith is primary from Monday 03-11 09:00 to Monday 03-18 09:00 UTC.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import vobject
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import select, text

from tests.conftest import Tokens
from warroom.db import Database
from warroom.logsafe import RedactSecrets
from warroom.oncall.models import CalendarFeed

TITLE = 'DB nights, "EU"; ops\\infra\nsecond line\r\nthird: é ✓ 🚨'


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def both(body: bytes) -> list[tuple[str, str, datetime, datetime]]:
    """(uid, summary, start, end) of every event, as each parser reads it; they agree."""
    first = [
        (str(e["UID"]), str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"))
        for e in Calendar.from_ical(body).walk("VEVENT")
    ]
    other = vobject.readOne(body.decode())
    second = [
        (e.uid.value, e.summary.value, e.dtstart.value, e.dtend.value)
        for e in getattr(other, "vevent_list", [])
    ]
    assert first == second
    return first


def schedule_ics(client: TestClient, token: str, name: str, start: str, end: str) -> Any:
    return client.get(
        f"/api/v1/schedules/{name}/calendar.ics",
        params={"from": start, "to": end},
        headers=auth(token),
    )


# --- exports ------------------------------------------------------------------------------


def test_a_title_with_every_special_character_exports(
    client: TestClient, api_tokens: Tokens
) -> None:
    spec = {
        "name": "db-nights",
        "title": TITLE,
        "layers": [{"name": "primary", "rotation": "daily", "participants": ["jane.smith"]}],
    }
    created = client.post("/api/v1/schedules", json=spec, headers=auth(api_tokens.admin))
    assert created.status_code == 201, created.text
    response = schedule_ics(
        client, api_tokens.viewer, "db-nights", "2024-03-15T00:00:00Z", "2024-03-17T00:00:00Z"
    )
    assert response.status_code == 200, response.text
    written = TITLE.replace("\r\n", "\n")
    assert vobject.readOne(response.text).x_wr_calname.value == f"On call: {written}"
    events = vobject.readOne(response.text).vevent_list
    assert all(written in e.description.value for e in events)
    assert len(both(response.content)) == 3  # 14th 09:00-15th 09:00, 15th-16th, 16th-17th


def test_overrides_at_shift_boundaries_export_with_unique_stable_uids(
    client: TestClient, api_tokens: Tokens
) -> None:
    t = api_tokens.responder
    for body in (
        # jane added to her own layer from the very start of her turn...
        {"kind": "add", "user": "jane.smith", "layer": "primary",
         "start": "2024-03-11T09:00:00Z", "end": "2024-03-11T11:00:00Z"},
        # ...and on top of every layer from the same instant
        {"kind": "add", "user": "jane.smith",
         "start": "2024-03-11T09:00:00Z", "end": "2024-03-11T10:00:00Z"},
        # mike takes bob's primary turn for its first three hours
        {"kind": "replace", "user": "mike.chen", "replaces": "bob.wilson",
         "start": "2024-03-18T09:00:00Z", "end": "2024-03-18T12:00:00Z"},
        # the secondary layer is empty for the hour before the handoff
        {"kind": "remove", "layer": "secondary",
         "start": "2024-03-18T08:00:00Z", "end": "2024-03-18T09:00:00Z"},
    ):  # fmt: skip
        made = client.post(
            "/api/v1/schedules/incident-commander/overrides", json=body, headers=auth(t)
        )
        assert made.status_code == 201, made.text
    window = ("2024-03-11T00:00:00Z", "2024-03-19T00:00:00Z")
    response = schedule_ics(client, api_tokens.viewer, "incident-commander", *window)
    assert response.status_code == 200, response.text
    found = both(response.content)
    uids = [uid for uid, *_ in found]
    assert len(uids) == len(set(uids))
    monday = utc(2024, 3, 11, 9)
    assert sorted((s, start, end) for _, s, start, end in found if start == monday) == [
        ("On call: bob.wilson (secondary)", monday, utc(2024, 3, 18, 8)),
        ("On call: jane.smith (override)", monday, utc(2024, 3, 11, 10)),
        ("On call: jane.smith (primary)", monday, utc(2024, 3, 11, 11)),
        ("On call: jane.smith (primary)", monday, utc(2024, 3, 18, 9)),
    ]
    after = [(s, start, end) for _, s, start, end in found if start >= utc(2024, 3, 18, 9)]
    assert after == [
        ("On call: mike.chen (primary)", utc(2024, 3, 18, 9), utc(2024, 3, 18, 12)),
        ("On call: jane.smith (secondary)", utc(2024, 3, 18, 9), utc(2024, 3, 25, 9)),
        ("On call: bob.wilson (primary)", utc(2024, 3, 18, 12), utc(2024, 3, 25, 9)),
    ]
    again = schedule_ics(
        client, api_tokens.viewer, "incident-commander", "2024-03-01T00:00:00Z",
        "2024-04-01T00:00:00Z",
    )  # fmt: skip
    assert set(uids) <= {uid for uid, *_ in both(again.content)}


@pytest.mark.parametrize(
    ("zone", "handoff", "window", "expected"),
    [
        # Berlin springs forward on 2024-03-31: 09:00 local is 08:00 UTC, then 07:00 UTC.
        (
            "Europe/Berlin", "09:00", ("2024-03-29T12:00:00Z", "2024-04-01T12:00:00Z"),
            [utc(2024, 3, 29, 8), utc(2024, 3, 30, 8), utc(2024, 3, 31, 7), utc(2024, 4, 1, 7),
             utc(2024, 4, 2, 7)],
        ),
        # New York falls back on 2024-11-03: 01:30 happens twice, the handoff at the first.
        (
            "America/New_York", "01:30", ("2024-11-02T12:00:00Z", "2024-11-04T12:00:00Z"),
            [utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30),
             utc(2024, 11, 5, 6, 30)],
        ),
        # ...and springs forward on 2024-03-10: 02:30 never happens, the handoff at 03:00.
        (
            "America/New_York", "02:30", ("2024-03-09T12:00:00Z", "2024-03-11T12:00:00Z"),
            [utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7), utc(2024, 3, 11, 6, 30),
             utc(2024, 3, 12, 6, 30)],
        ),
    ],
)  # fmt: skip
def test_daily_handoffs_across_dst_changes(
    client: TestClient,
    api_tokens: Tokens,
    zone: str,
    handoff: str,
    window: tuple[str, str],
    expected: list[datetime],
) -> None:
    layer = {"name": "primary", "rotation": "daily", "handoff_time": handoff,
             "participants": ["jane.smith", "bob.wilson"]}  # fmt: skip
    spec = {"name": "dst", "time_zone": zone, "layers": [layer]}
    assert client.post("/api/v1/schedules", json=spec, headers=auth(api_tokens.admin)).is_success
    found = both(schedule_ics(client, api_tokens.viewer, "dst", *window).content)
    assert [(start, end) for _, _, start, end in found] == list(itertools.pairwise(expected))
    users = [s.split()[2] for _, s, _, _ in found]
    assert all(a != b for a, b in itertools.pairwise(users))


# --- feeds --------------------------------------------------------------------------------


def make_feed(client: TestClient, token: str, **body: Any) -> Any:
    return client.post("/api/v1/calendar-feeds", json=body, headers=auth(token))


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_a_schedule_feed_works_without_a_token_until_revoked(
    client: TestClient, api_tokens: Tokens, db: Database
) -> None:
    made = make_feed(client, api_tokens.responder, schedule="incident-commander", label="team")
    assert made.status_code == 201, made.text
    feed = made.json()
    assert (feed["kind"], feed["target"], feed["label"]) == (
        "schedule",
        "incident-commander",
        "team",
    )
    url = feed["url"]
    assert "/calendars/wrcal_" in url and url.endswith(".ics")
    assert feed["webcal_url"] == "webcal://" + url.split("://", 1)[1]
    secret = url.rsplit("/", 1)[1].removesuffix(".ics")

    client.headers.pop("Authorization", None)
    subscribed = client.get(path_of(url))
    assert subscribed.status_code == 200, subscribed.text
    assert subscribed.headers["content-type"].startswith("text/calendar")
    found = both(subscribed.content)
    # The default window: the last 7 days and the next 60, weekly turns of two layers.
    assert ("On call: jane.smith (primary)" in {s for _, s, _, _ in found}) and len(found) >= 20
    assert Calendar.from_ical(subscribed.content).decoded("REFRESH-INTERVAL") == timedelta(hours=1)
    assert client.head(path_of(url)).status_code == 200

    # Only a hash is stored; the list never shows the secret.
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM calendar_feeds")).mappings().one()
    assert secret not in str(dict(stored))
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    listed = client.get("/api/v1/calendar-feeds", headers=auth(api_tokens.responder))
    assert listed.status_code == 200 and secret not in listed.text
    assert [f["id"] for f in listed.json()] == [feed["id"]]
    assert listed.json()[0]["last_used_at"] == "2024-03-15T09:30:00Z"

    # The secret opens this feed and nothing else.
    assert client.get("/api/v1/oncall", headers=auth(secret)).status_code == 401
    assert client.get(f"/calendars/{secret}x.ics").status_code == 404
    assert "incident-commander" not in url  # the URL names nothing to swap for another

    revoked = client.delete(
        f"/api/v1/calendar-feeds/{feed['id']}", headers=auth(api_tokens.responder)
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    gone = client.get(path_of(url))
    unknown = client.get("/calendars/wrcal_" + "A" * 43 + ".ics")
    assert gone.status_code == unknown.status_code == 404
    assert gone.json() == unknown.json()
    assert client.get("/api/v1/calendar-feeds", headers=auth(api_tokens.responder)).json() == []


def test_rotating_a_feed_retires_its_old_url(client: TestClient, api_tokens: Tokens) -> None:
    feed = make_feed(client, api_tokens.jane, user="jane.smith").json()
    rotated = client.post(
        f"/api/v1/calendar-feeds/{feed['id']}/rotate", headers=auth(api_tokens.jane)
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["id"] == feed["id"] and rotated.json()["url"] != feed["url"]
    assert rotated.json()["rotated_at"] == "2024-03-15T09:30:00Z"
    client.headers.pop("Authorization", None)
    assert client.get(path_of(feed["url"])).status_code == 404
    fresh = client.get(path_of(rotated.json()["url"]))
    assert fresh.status_code == 200
    found = both(fresh.content)
    assert found and all("jane.smith" in s for _, s, _, _ in found)
    name = vobject.readOne(fresh.text).x_wr_calname.value
    assert name.startswith("On call: ") and name != "On call: jane.smith"  # her name


def test_who_may_make_and_manage_feeds(client: TestClient, api_tokens: Tokens) -> None:
    # A person's feed: that person or an admin.
    assert make_feed(client, api_tokens.bob, user="jane.smith").status_code == 403
    assert make_feed(client, api_tokens.responder, user="jane.smith").status_code == 403
    assert make_feed(client, api_tokens.admin, user="jane.smith").status_code == 201
    assert make_feed(client, api_tokens.admin, user="nobody").status_code == 404
    # A schedule's feed: a responder or an admin.
    assert make_feed(client, api_tokens.viewer, schedule="EM_ONCALL").status_code == 403
    missing = make_feed(client, api_tokens.responder, schedule="nope")
    assert missing.status_code == 404 and missing.json()["error"]["details"]["field"] == "schedule"
    both_given = make_feed(client, api_tokens.admin, user="jane.smith", schedule="EM_ONCALL")
    assert both_given.status_code == 422
    janes = make_feed(client, api_tokens.jane, user="jane.smith").json()
    # Someone else's feed is invisible: not listed, and 404 to rotate or revoke.
    assert [f["id"] for f in client.get(
        "/api/v1/calendar-feeds", headers=auth(api_tokens.bob)).json()] == []  # fmt: skip
    for method, suffix in (("POST", "/rotate"), ("DELETE", "")):
        answer = client.request(
            method, f"/api/v1/calendar-feeds/{janes['id']}{suffix}", headers=auth(api_tokens.bob)
        )
        assert answer.status_code == 404
    # jane sees the admin's feed of her shifts too; the admin sees everything.
    assert len(client.get("/api/v1/calendar-feeds", headers=auth(api_tokens.jane)).json()) == 2
    assert len(client.get("/api/v1/calendar-feeds", headers=auth(api_tokens.admin)).json()) == 2
    assert client.get("/api/v1/calendar-feeds").status_code == 401


def test_deleting_a_schedule_revokes_its_feeds(
    client: TestClient, api_tokens: Tokens, db: Database
) -> None:
    spec = {"name": "temp", "layers": [{"name": "p", "participants": ["jane.smith"]}]}
    assert client.post("/api/v1/schedules", json=spec, headers=auth(api_tokens.admin)).is_success
    feed = make_feed(client, api_tokens.responder, schedule="temp").json()
    assert client.get(path_of(feed["url"])).status_code == 200
    assert client.delete("/api/v1/schedules/temp", headers=auth(api_tokens.admin)).is_success
    assert client.get(path_of(feed["url"])).status_code == 404
    with db.unit_of_work() as uow:
        row = uow.session.scalars(select(CalendarFeed)).one()
        assert row.revoked_at is not None


def test_the_secret_is_kept_out_of_the_access_log() -> None:
    secret = "wrcal_" + "s3cr3t" * 7
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/calendars/{secret}.ics", "1.1", 200), None,
    )  # fmt: skip
    assert RedactSecrets().filter(record)
    assert secret not in record.getMessage() and "/calendars/[redacted]" in record.getMessage()
