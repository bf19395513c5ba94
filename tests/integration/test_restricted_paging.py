"""Issue 9, item 5: whoever is paged for a restricted incident works on it from the page on.

A restricted SEV1 of payment-service pages the platform primary on call (tom.nguyen at the
fake clock's start). Tom opens and acknowledges it with his own token, through the API and
the web; bob.wilson, a responder who was not paged, still sees nothing anywhere.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_paging import (  # noqa: F401 (fixtures)
    Harness,
    dm,
    email,
    make_harness,
    slack,
    smtp,
    twilio,
)
from tests.integration.test_web import csrf_of, htmx, login
from warroom.auth import service as tokens
from warroom.auth.logic import Role


def _token_for(h: Harness, user: str) -> str:
    with h.ctx.db.unit_of_work() as uow:
        _, value = tokens.create(
            uow.session, name=user, role=Role.RESPONDER, user=user, now=h.clock.now()
        )
        uow.commit()
    return value


def _status(h: Harness, token: str, method: str, path: str, body: Any = None) -> int:
    response = h.as_(token).request(method, path, json=body)
    return response.status_code


@pytest.fixture
def h(make_harness: Any) -> Harness:  # noqa: F811
    harness: Harness = make_harness()
    return harness


def test_the_paged_on_call_opens_and_acknowledges_a_restricted_incident(h: Harness) -> None:
    tom, bob = _token_for(h, "tom.nguyen"), h.tokens.bob
    body = {
        "title": "Card numbers in the logs",
        "severity": "SEV1",
        "services": ["payment-service"],
        "restricted": True,
    }
    created = h.as_(h.tokens.responder).post("/api/v1/incidents", json=body)
    assert created.status_code == 201, created.text
    key = created.json()["id"]
    # Before the page goes out, Tom is an outsider like anyone else.
    assert _status(h, tom, "GET", f"/api/v1/incidents/{key}") == 404
    h.run()  # the engine pages the platform primary
    h.expect(email=(email("tom.nguyen", "[SEV1] INCIDENT: Card numbers in the logs"),),
             slack=(dm("tom.nguyen", "INCIDENT"),))  # fmt: skip

    # Tom, paged, sees it: show, timeline, the list, its paging.
    shown = h.as_(tom).get(f"/api/v1/incidents/{key}")
    assert shown.status_code == 200 and "tom.nguyen" in shown.json()["participants"]
    assert _status(h, tom, "GET", f"/api/v1/incidents/{key}/timeline") == 200
    assert _status(h, tom, "GET", f"/api/v1/incidents/{key}/paging") == 200
    listed = h.as_(tom).get("/api/v1/incidents").json()
    assert key in [i["id"] for i in listed["items"]]
    # Bob was not paged: 404 everywhere, the list does not count it.
    for path in ("", "/timeline", "/paging"):
        assert _status(h, bob, "GET", f"/api/v1/incidents/{key}{path}") == 404, path
    assert key not in [i["id"] for i in h.as_(bob).get("/api/v1/incidents").json()["items"]]
    assert _status(h, bob, "POST", f"/api/v1/incidents/{key}/ack") == 404
    assert _status(h, bob, "POST", f"/api/v1/incidents/{key}/paging/ack") == 404

    # Tom acknowledges the page with his own token: paging stops, the timeline says who.
    acked = h.as_(tom).post(f"/api/v1/incidents/{key}/paging/ack")
    assert acked.status_code == 200, acked.text
    assert acked.json()["result"] == "acknowledged" and acked.json()["paging"] is False
    again = h.as_(tom).post(f"/api/v1/incidents/{key}/ack")
    assert again.status_code == 200 and again.json()["acknowledged_at"] is not None
    h.run()
    timeline = h.as_(tom).get(f"/api/v1/incidents/{key}/timeline").json()["events"]
    assert any(e["type"] == "acknowledgement" and e["actor"] == "tom.nguyen" for e in timeline), (
        timeline
    )

    # The web shell follows the same rule.
    web = h.api
    web.headers.pop("Authorization", None)
    login(web, bob)
    assert "Card numbers" not in web.get("/").text
    assert web.get(f"/incidents/{key}").status_code == 404
    csrf = csrf_of(web.get("/"))
    assert web.post(f"/incidents/{key}/ack", headers=htmx(csrf)).status_code == 404
    login(web, tom)
    assert "Card numbers" in web.get("/").text
    page = web.get(f"/incidents/{key}")
    assert page.status_code == 200 and "Card numbers in the logs" in page.text
