"""Calendar feeds from the command line, fetched as a calendar app does: no header at all.

The server's log must never show a feed's secret (the access log redacts it).
"""

from __future__ import annotations

import httpx
import pytest
import vobject
from icalendar import Calendar

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_e2e import as_json, ok, refused

pytestmark = pytest.mark.e2e


def test_a_feed_is_made_fetched_rotated_and_revoked(cli_sqlite: Cli) -> None:
    cli = cli_sqlite
    url = ok(cli("calendar-feed", "create", "--schedule", "incident-commander")).strip()
    assert url.startswith(cli.server.url + "/calendars/wrcal_") and url.endswith(".ics")
    secret = url.rsplit("/", 1)[1].removesuffix(".ics")

    with httpx.Client(timeout=10.0) as client:
        fetched = client.get(url)
        assert fetched.status_code == 200, fetched.text
        events = Calendar.from_ical(fetched.content).walk("VEVENT")
        assert events and len(vobject.readOne(fetched.text).vevent_list) == len(events)

        listed = as_json(cli("calendar-feed", "list", "--json"))
        (feed,) = [f for f in listed if f["target"] == "incident-commander"]
        assert secret not in str(listed) and feed["last_used_at"] is not None

        rotated = ok(cli("calendar-feed", "rotate", str(feed["id"]))).strip()
        assert rotated != url
        assert client.get(url).status_code == 404
        assert client.get(rotated).status_code == 200

        revoked = ok(cli("calendar-feed", "revoke", str(feed["id"])))
        assert f"revoked calendar feed {feed['id']}" in revoked
        assert client.get(rotated).status_code == 404

    assert "give --user or --schedule" in refused(cli("calendar-feed", "create"), code=2)
    log = cli.server.log.read_text(errors="replace")
    assert "/calendars/[redacted]" in log
    assert secret not in log and rotated.rsplit("/", 1)[1] not in log
