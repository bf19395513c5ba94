"""The console's incident half through TestClient: declaring with the classifier, running an
incident (severity, roles, impact, resolve, the "Now" card, the live refresh), and alerts
(list, filters, one alert, acknowledge, resolve, attach, declare from it), with CSRF,
escaping and restricted incidents kept from outsiders on every page."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.test_alerts_ingest import make_integration, trigger
from tests.integration.test_web import HOSTILE, bearer, csrf_of, declare, htmx, login
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.timer_job import TimerRunner


def form(csrf: str, **fields: Any) -> dict[str, Any]:
    return {"csrf_token": csrf, **fields}


def timeline(client: TestClient, token: str, key: str) -> list[str]:
    r = client.get(f"/api/v1/incidents/{key}/timeline", headers=bearer(token))
    assert r.status_code == 200, r.text
    return [e["description"] for e in r.json()["events"]]


def incident(client: TestClient, token: str, key: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/incidents/{key}", headers=bearer(token))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# --- declare --------------------------------------------------------------------------------


def test_declare_page_classifies_and_declares_with_paging(
    client: TestClient, api_tokens: Tokens
) -> None:
    login(client, api_tokens.jane)
    page = client.get("/declare")
    assert page.status_code == 200
    assert 'aria-current="page"' not in page.text or "/declare" in page.text
    for question in ("error_rate_percent", "affected_users_percent", "is_security_incident"):
        assert f'name="{question}"' in page.text
    csrf = csrf_of(page)

    # The classifier inline: which rule, why, and the suggestion chosen in the select.
    r = client.post(
        "/declare/classify",
        data=form(csrf, error_rate_percent="60", affected_users_percent="80"),
        headers=htmx(csrf),
    )
    assert r.status_code == 200
    assert "Suggested: <strong" in r.text and "SEV1" in r.text
    assert "rule high_error_rate_and_users" in r.text
    assert 'hx-swap-oob="true"' in r.text and '<option value="SEV1" selected>' in r.text
    bad = client.post(
        "/declare/classify", data=form(csrf, error_rate_percent="120"), headers=htmx(csrf)
    )
    assert "error_rate_percent" in bad.text and "between 0 and 100" in bad.text

    # Without CSRF nothing is declared.
    refused = client.post("/declare", data={"title": "x", "severity": "SEV1"})
    assert refused.status_code == 403
    # A refused form comes back as typed, naming the field.
    r = client.post(
        "/declare",
        data=form(csrf, title=HOSTILE, severity="", services=["payment-service"]),
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "severity" in r.text and HOSTILE not in r.text and "&lt;script&gt;" in r.text
    r = client.post(
        "/declare",
        data=form(
            csrf,
            title="Checkout down <b>now</b>",
            severity="SEV1",
            services=["payment-service", "api-gateway"],
            type="service_outage",
            commander="jane.smith",
            affected_users_percent="80",
            error_rate_percent="60",
        ),
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    key = r.headers["location"].rsplit("/", 1)[1]
    data = incident(client, api_tokens.admin, key)
    assert data["severity"] == "SEV1" and data["roles"]["incident_commander"] == "jane.smith"
    assert sorted(data["services"]) == ["api-gateway", "payment-service"]
    assert data["impact"]["affected_users_percent"] == 80
    page = client.get(f"/incidents/{key}")
    assert "Checkout down &lt;b&gt;now&lt;/b&gt;" in page.text
    # Paging started in the same transaction: the Now card names the next step.
    assert 'id="now-paging"' in page.text and "is paging" in page.text
    assert "SLA, acknowledge" in page.text


def test_viewers_cannot_declare(client: TestClient, api_tokens: Tokens) -> None:
    login(client, api_tokens.viewer)
    assert client.get("/declare").status_code == 403
    csrf = csrf_of(client.get("/"))
    r = client.post("/declare", data=form(csrf, title="x", severity="SEV3"))
    assert r.status_code == 403
    r = client.get("/api/v1/incidents", headers=bearer(api_tokens.admin))
    assert r.json()["total"] == 0


# --- running the incident -------------------------------------------------------------------


def test_the_whole_incident_runs_from_its_page(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = declare(client, api_tokens.responder, severity="SEV2")
    TimerRunner()(ctx)  # the first escalation step pages (the engine is off in tests)
    login(client, api_tokens.bob)
    page = client.get(f"/incidents/{key}")
    csrf = csrf_of(page)
    sent = re.search(r"Pages sent \((\d+)\)", page.text)
    assert sent is not None and int(sent.group(1)) >= 1, "the page went out: the ledger shows it"
    assert "to fill: Incident Commander" in page.text  # not yet late: not flagged

    def post(path: str, **fields: Any) -> httpx.Response:
        r = client.post(f"/incidents/{key}/{path}", data=form(csrf, **fields), headers=htmx(csrf))
        return r

    assert post("ack").status_code == 200
    r = post("roles/incident_commander/claim")
    assert r.status_code == 200 and "You are Incident Commander." in r.text
    r = post("roles", role="technical_lead", user="jane.smith")
    assert r.status_code == 200 and "jane.smith is Technical Lead." in r.text
    # Severity needs a reason, then changes (Bob holds command).
    r = post("severity", severity="SEV1", reason="")
    assert r.status_code == 422 and "say why" in r.text
    r = post("severity", severity="SEV1", reason="all regions now")
    assert r.status_code == 200 and "Severity changed from SEV2 to SEV1." in r.text
    r = post("impact", affected_users="12,000", customer_data_exposed="1", revenue_loss="abc")
    assert r.status_code == 422 and "revenue_loss" in r.text
    r = post("impact", affected_users="12,000", customer_data_exposed="1")
    assert r.status_code == 200 and "Impact recorded." in r.text
    TimerRunner()(ctx)  # the impact escalation (customer data exposed) fires
    fired = [line for line in timeline(client, api_tokens.admin, key) if "Escalated to" in line]
    assert any("Customer data exposed (customer_data_exposed)" in line for line in fired), fired
    r = post("status", status="identified", message="bad deploy", public="1")
    assert r.status_code == 200
    r = post("status", status="resolved", message="rolled back")
    assert r.status_code == 200
    data = incident(client, api_tokens.admin, key)
    assert data["status"] == "resolved" and data["severity"] == "SEV1"
    assert data["roles"] == {"incident_commander": "bob.wilson", "technical_lead": "jane.smith"}
    assert data["impact"]["affected_users"] == 12000
    assert data["impact"]["customer_data_exposed"] is True
    lines = timeline(client, api_tokens.admin, key)
    for expected in (
        "Acknowledged by bob",
        "bob.wilson assigned as Incident Commander",
        "jane.smith assigned as Technical Lead",
        "Upgraded from SEV2 to SEV1: all regions now",
        "Impact assessment updated: affected_users=12000, customer_data_exposed=True",
        "Status changed to identified: bad deploy",
        "Incident resolved: rolled back",
    ):
        assert any(expected in line for line in lines), (expected, lines)
    page = client.get(f"/incidents/{key}")
    assert "nobody is paged, no clock runs" in page.text
    r = post("status", status="closed")
    assert r.status_code == 200
    assert 'id="severity-form"' not in r.text  # closed: its severity is final


def test_authority_rules_refuse_on_the_page_and_name_who_may(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder, severity="SEV1", commander="jane.smith")
    login(client, api_tokens.bob)
    page = client.get(f"/incidents/{key}")
    csrf = csrf_of(page)
    assert "only the Incident Commander (jane.smith) may change the severity" in page.text
    r = client.post(
        f"/incidents/{key}/severity",
        data=form(csrf, severity="SEV2", reason="smaller"),
        headers=htmx(csrf),
    )
    assert r.status_code == 403 and "(jane.smith)" in r.text
    r = client.post(f"/incidents/{key}/roles/incident_commander/claim", data=form(csrf))
    assert r.status_code == 403
    assert incident(client, api_tokens.admin, key)["roles"]["incident_commander"] == "jane.smith"
    # A token of no person cannot claim.
    login(client, api_tokens.responder)
    csrf = csrf_of(client.get(f"/incidents/{key}"))
    r = client.post(f"/incidents/{key}/roles/scribe/claim", data=form(csrf), headers=htmx(csrf))
    assert r.status_code == 422 and "belongs to no person" in r.text


def test_the_live_fragment_swaps_parts_out_of_band(client: TestClient, api_tokens: Tokens) -> None:
    key = declare(client, api_tokens.responder)
    login(client, api_tokens.viewer)
    page = client.get(f"/incidents/{key}")
    assert f'hx-get="/incidents/{key}/live"' in page.text
    r = client.post(
        f"/api/v1/incidents/{key}/events",
        json={"type": "note", "description": "from the API " + HOSTILE},
        headers=bearer(api_tokens.responder),
    )
    assert r.status_code == 201
    live = client.get(f"/incidents/{key}/live", headers=htmx())
    assert live.status_code == 200
    ids = re.findall(r'id="([a-z-]+)"[^>]*hx-swap-oob="true"', live.text)
    assert set(ids) == {"incident-head", "now", "facts", "roles-card", "timeline-card"}
    assert "from the API &lt;script&gt;" in live.text and HOSTILE not in live.text
    # A responder's refresh carries the actions card too (warroom.js keeps it while typed in).
    login(client, api_tokens.responder)
    live = client.get(f"/incidents/{key}/live", headers=htmx())
    assert 'id="actions"' in live.text


# --- alerts ---------------------------------------------------------------------------------


def _alert(client: TestClient, admin: str, key: str, **payload: Any) -> int:
    r = client.post("/v2/enqueue", json=trigger(key, **payload))
    assert r.status_code == 202, r.text
    dedup = r.json()["dedup_key"]
    r = client.get("/api/v1/alerts", params={"dedup_key": dedup}, headers=bearer(admin))
    return int(r.json()["items"][0]["id"])


def test_alerts_list_filters_show_and_act(client: TestClient, api_tokens: Tokens) -> None:
    source = make_integration(client, api_tokens.admin, "pagerduty")
    first = _alert(client, api_tokens.admin, source["key"], summary="DB <b>slow</b>")
    client.post("/v2/enqueue", json=trigger(source["key"], summary="DB <b>slow</b>"))
    second = _alert(client, api_tokens.admin, source["key"], dedup="other", summary="Disk full")
    login(client, api_tokens.responder)
    page = client.get("/alerts")
    assert page.status_code == 200 and 'aria-current="page"' in page.text
    assert "DB &lt;b&gt;slow&lt;/b&gt;" in page.text and "Disk full" in page.text
    assert "2\u00d7" in page.text  # the occurrence count
    only = client.get("/alerts", params={"status": "triggered", "source": source["id"]})
    assert "Disk full" in only.text
    assert "Disk full" not in client.get("/alerts", params={"service": "search"}).text
    assert client.get("/alerts", params={"status": "nope"}).status_code == 400
    assert client.get("/alerts", params={"incident": "INC-x"}).status_code == 400

    one = client.get(f"/alerts/{first}")
    assert one.status_code == 200
    assert 'id="occurrences">2<' in one.text
    assert "&lt;b&gt;slow&lt;/b&gt;" in one.text and "<b>slow</b>" not in one.text
    assert "Raw payload" in one.text and "routing_key" not in one.text
    csrf = csrf_of(one)
    assert client.post(f"/alerts/{first}/ack", data={}).status_code == 403
    r = client.post(f"/alerts/{first}/ack", data=form(csrf), headers=htmx(csrf))
    assert r.status_code == 200 and "Alert acknowledged." in r.text
    r = client.post(f"/alerts/{second}/resolve", data=form(csrf), follow_redirects=False)
    assert r.status_code == 303
    states = {
        a["id"]: a["status"]
        for a in client.get("/api/v1/alerts", headers=bearer(api_tokens.admin)).json()["items"]
    }
    assert states == {first: "acknowledged", second: "resolved"}

    # Attach to an incident; then declare a new one from another alert.
    key = declare(client, api_tokens.responder)
    r = client.post(f"/alerts/{first}/attach", data=form(csrf, incident=key), headers=htmx(csrf))
    assert r.status_code == 200 and f"Attached to {key}." in r.text
    assert any("attached by responder" in line for line in timeline(client, api_tokens.admin, key))
    third = _alert(client, api_tokens.admin, source["key"], dedup="third", summary="Queue stuck")
    page = client.get(f"/declare?alert={third}")
    assert "Queue stuck" in page.text and f'name="alert" value="{third}"' in page.text
    r = client.post(
        "/declare",
        data=form(csrf, title="Queue stuck", severity="SEV3", alert=str(third)),
        follow_redirects=False,
    )
    assert r.status_code == 303
    new_key = r.headers["location"].rsplit("/", 1)[1]
    got = client.get(f"/api/v1/alerts/{third}", headers=bearer(api_tokens.admin)).json()
    assert got["incident"] == new_key
    assert client.get("/alerts/999999").status_code == 404
    assert client.get("/alerts/abc").status_code == 404


def test_alert_api_actions_match_the_page(client: TestClient, api_tokens: Tokens) -> None:
    source = make_integration(client, api_tokens.admin, "pagerduty")
    alert_id = _alert(client, api_tokens.admin, source["key"])
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=bearer(api_tokens.viewer))
    assert r.status_code == 403
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=bearer(api_tokens.responder))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    r = client.post(
        f"/api/v1/alerts/{alert_id}/declare",
        json={"title": "From the API", "severity": "SEV2"},
        headers=bearer(api_tokens.responder),
    )
    assert r.status_code == 201, r.text
    key = r.json()["id"]
    r = client.post(
        f"/api/v1/alerts/{alert_id}/declare",
        json={"title": "Twice", "severity": "SEV2"},
        headers=bearer(api_tokens.responder),
    )
    assert r.status_code == 409
    r = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=bearer(api_tokens.responder))
    assert r.json()["status"] == "resolved" and r.json()["incident"] == key
    assert any("resolved by responder" in line for line in timeline(client, api_tokens.admin, key))


# --- restricted incidents -------------------------------------------------------------------


def test_restricted_incidents_stay_hidden_on_every_console_page(
    client: TestClient, api_tokens: Tokens
) -> None:
    secret = declare(
        client, api_tokens.jane, title="Leaked keys", severity="SEV1", type="security_breach"
    )
    source = make_integration(client, api_tokens.admin, "pagerduty")
    alert_id = _alert(client, api_tokens.admin, source["key"], summary="Key use from TOR")
    r = client.post(
        f"/api/v1/alerts/{alert_id}/attach",
        json={"incident": secret},
        headers=bearer(api_tokens.jane),
    )
    assert r.status_code == 200, r.text
    login(client, api_tokens.bob)  # a responder, not a participant
    csrf = csrf_of(client.get("/"))
    assert "Key use from TOR" not in client.get("/alerts").text
    assert client.get(f"/alerts/{alert_id}").status_code == 404
    assert client.get(f"/alerts?incident={secret}").text.count("Key use") == 0
    assert client.get(f"/incidents/{secret}/live", headers=htmx()).status_code == 404
    for path, data in (
        (f"/incidents/{secret}/severity", {"severity": "SEV2", "reason": "x"}),
        (f"/incidents/{secret}/roles/scribe/claim", {}),
        (f"/incidents/{secret}/roles", {"role": "scribe", "user": "bob.wilson"}),
        (f"/incidents/{secret}/impact", {"affected_users": "1"}),
        (f"/alerts/{alert_id}/ack", {}),
    ):
        r = client.post(path, data=form(csrf, **data), headers=htmx(csrf))
        assert r.status_code == 404, path
        assert "Leaked keys" not in r.text
    # Nor can an outsider attach an alert of theirs to it, nor see it offered.
    other = _alert(client, api_tokens.admin, source["key"], dedup="mine", summary="Mine")
    page = client.get(f"/alerts/{other}")
    assert secret not in page.text and "Leaked keys" not in page.text
    r = client.post(f"/alerts/{other}/attach", data=form(csrf, incident=secret), headers=htmx(csrf))
    assert r.status_code == 404 and "Leaked keys" not in r.text
    assert "Leaked keys" not in client.get("/declare").text
    # The insider sees all of it.
    login(client, api_tokens.jane)
    assert "Key use from TOR" in client.get("/alerts").text
    assert client.get(f"/alerts/{alert_id}").status_code == 200
