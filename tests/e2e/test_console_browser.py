"""The 3 AM procedure in a real Chromium against a real server with its engine running.

Log in, declare a SEV1 from /declare with the classifier's suggestion, see the page go out
on the "Now" card, acknowledge, claim Incident Commander, give a role, change the
severity, post a public status update, resolve; the timeline says all of it in order.
On the way: the live refresh brings in a change made elsewhere without losing a note
being typed. Then axe-core (vendored under tests/fixtures/axe, injected into the pages)
checks the main pages for serious or critical violations, and the test saves
screenshots at desktop (1280) and phone (390) width under docs/img/ (docs/web.md).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.test_browser import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SCREENSHOTS,
    Server,
    server,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

AXE = ROOT / "tests" / "fixtures" / "axe" / "axe.min.js"
SHOTS = SCREENSHOTS
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _token(api: httpx.Client, user: str) -> str:
    r = api.post("/api/v1/tokens", json={"name": f"web-{user}", "role": "responder", "user": user})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def _refresh(page: Any) -> None:
    """What the 10-second poll does, now."""
    page.evaluate("htmx.trigger(document.querySelector('[data-poll]'), 'wr-refresh')")


def _axe(page: Any) -> list[str]:
    """Serious and critical axe-core violations on the page, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps(v['nodes'])}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def test_the_3am_scenario_in_the_browser(server: Server) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    if not AXE.exists():
        pytest.fail("tests/fixtures/axe/axe.min.js is missing")
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    admin = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=10) as api:
        jane = _token(api, "jane.smith")
        # An alert for the alert pages (a warning: no rule declares from it).
        r = api.post(
            "/api/v1/integrations",
            json={"name": "search-monitoring", "type": "pagerduty", "service": "search"},
        )
        assert r.status_code == 201, r.text
        event = {
            "routing_key": r.json()["key"],
            "event_action": "trigger",
            "dedup_key": "search-p95",
            "payload": {
                "summary": "Search p95 latency above 2 s <slow>",
                "severity": "warning",
                "source": "search-01",
                "custom_details": {"p95_ms": 2350, "region": "eu-west-1"},
            },
        }
        for _ in range(2):
            assert api.post("/v2/enqueue", json=event).status_code == 202

        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and "403" not in message.text:
                problems.append(f"console: {message.text}")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(10_000)
                page = context.new_page()
                page.on("console", on_console)
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

                # Log in; the navigation marks where we are.
                page.goto(f"{server.url}/declare")
                page.fill("#token", jane)
                page.click("button[type=submit]")
                expect(page).to_have_url(f"{server.url}/declare")
                expect(page.locator("h1")).to_have_text("Declare an incident")

                # Declare: the classifier suggests SEV1 and says why.
                page.fill("#title", "Checkout failing for most customers")
                page.check("input[name=services][value=payment-service]")
                page.select_option("#type", "service_outage")
                page.select_option("#commander", "")
                page.fill("input[name=error_rate_percent]", "60")
                page.fill("input[name=affected_users_percent]", "80")
                page.check("input[name=core_feature_affected]")
                page.click("#suggest")
                expect(page.locator("#suggestion")).to_contain_text("Suggested: SEV1")
                expect(page.locator("#suggestion .explanation")).to_contain_text("SEV1")
                expect(page.locator("#severity")).to_have_value("SEV1")
                page.click("#declare")
                expect(page).to_have_url(f"{server.url}/incidents/INC-1")
                page.evaluate("window.warroomNoReload = true")
                timeline = page.locator("#timeline-card table.timeline")
                expect(timeline).to_contain_text(
                    "Incident declared at SEV1: Checkout failing for most customers"
                )
                expect(page.locator("#now-roles")).to_contain_text("Incident Commander")

                # The page goes out: the engine pages the first step; the Now card shows it.
                ledger = page.locator("#pages-ledger")
                for _ in range(40):
                    if ledger.locator("tbody tr").count() > 0:
                        break
                    page.wait_for_timeout(500)
                    _refresh(page)
                expect(ledger.locator("tbody tr").first).to_be_attached()
                expect(page.locator("#now-paging")).to_contain_text("Paging")
                expect(page.locator("#sla-acknowledge")).to_contain_text("left")

                # The live refresh keeps a note being typed and brings in others' changes.
                page.fill("#note", "Draft: checking the payment provider")
                r = api.post(
                    "/api/v1/incidents/INC-1/events",
                    json={"type": "investigation", "description": "Provider status page green"},
                )
                assert r.status_code == 201, r.text
                _refresh(page)
                expect(timeline).to_contain_text("Provider status page green")
                expect(page.locator("#note")).to_have_value("Draft: checking the payment provider")
                page.fill("#note", "")

                # Acknowledge; claim command; give a role.
                page.click("#ack")
                expect(page.locator(".flash.ok")).to_have_text("Acknowledged.")
                expect(timeline).to_contain_text("Acknowledged by jane.smith")
                page.click("#claim-incident_commander")
                expect(page.locator(".flash.ok")).to_have_text("You are Incident Commander.")
                expect(page.locator("#role-incident_commander")).to_contain_text("jane.smith")
                page.select_option("#assign-role", "technical_lead")
                page.select_option("#assign-user", "bob.wilson")
                page.click("#role-form button[type=submit]")
                expect(page.locator("#role-technical_lead")).to_contain_text("bob.wilson")

                # Change the severity, with a reason.
                page.select_option("#new-severity", "SEV2")
                page.fill("#severity-reason", "Only EU customers affected")
                page.click("#severity-form button[type=submit]")
                expect(page.locator(".flash.ok")).to_have_text(
                    "Severity changed from SEV1 to SEV2."
                )
                expect(page.locator("#incident-head .sev")).to_have_text("SEV2")

                # A public status update, then resolve.
                page.select_option("#status", "identified")
                page.fill("#status-message", "Bad deploy; rolling back")
                page.check("#status-public")
                page.click("#status-form button[type=submit]")
                expect(page.locator("#incident-head .status")).to_have_text("identified")
                page.select_option("#status", "resolved")
                page.fill("#status-message", "Rolled back; payments flow again")
                page.click("#status-form button[type=submit]")
                expect(page.locator("#incident-head .status")).to_have_text("resolved")
                expect(page.locator("#now")).to_contain_text("nobody is paged")
                assert page.evaluate("window.warroomNoReload") is True, "the page reloaded"
                context.close()
                assert problems == [], "\n".join(problems)

                # The timeline, from the API: every step, in order.
                events = api.get("/api/v1/incidents/INC-1/timeline").json()["events"]
                lines = [e["description"] for e in events]
                wanted = [
                    "Incident declared at SEV1: Checkout failing for most customers",
                    "Acknowledged by jane.smith",
                    "jane.smith assigned as Incident Commander",
                    "bob.wilson assigned as Technical Lead",
                    "Downgraded from SEV1 to SEV2: Only EU customers affected",
                    "Status changed to identified: Bad deploy; rolling back",
                    "Incident resolved: Rolled back; payments flow again",
                ]
                found = [next(i for i, line in enumerate(lines) if w in line) for w in wanted]
                assert found == sorted(found), lines
                public = next(e for e in events if e["description"].startswith("Status changed to"))
                assert public["details"].get("public") is True
                assert any(e["type"] == "escalation" or "page" in e["description"].lower()
                           for e in events), lines  # fmt: skip

                # A second incident, open, for the screenshots and the accessibility check.
                r = api.post(
                    "/api/v1/incidents",
                    json={"title": "Search is slow in eu-west-1", "severity": "SEV3",
                          "services": ["search"], "commander": "jane.smith"},
                )  # fmt: skip
                assert r.status_code == 201, r.text
                alert_id = api.get("/api/v1/alerts").json()["items"][0]["id"]

                pages = {
                    "dashboard": "/",
                    "declare": "/declare",
                    "incident": "/incidents/INC-1",
                    "incident-open": "/incidents/INC-2",
                    "alerts": "/alerts",
                    "alert": f"/alerts/{alert_id}",
                }
                violations: list[str] = []
                SHOTS.mkdir(parents=True, exist_ok=True)
                for label, (width, height) in WIDTHS.items():
                    context = browser.new_context(
                        viewport={"width": width, "height": height},
                        is_mobile=label == "phone",
                        device_scale_factor=1,
                    )
                    context.set_default_timeout(10_000)
                    page = context.new_page()
                    page.goto(f"{server.url}/login")
                    page.fill("#token", jane)
                    page.click("button[type=submit]")
                    expect(page.locator(".mainnav")).to_be_visible()
                    for name, path in pages.items():
                        page.goto(f"{server.url}{path}")
                        page.wait_for_load_state("networkidle")
                        if name == "declare":
                            page.fill("input[name=error_rate_percent]", "60")
                            page.fill("input[name=affected_users_percent]", "80")
                            page.click("#suggest")
                            expect(page.locator("#suggestion")).to_be_visible()
                        # Nothing wider than the screen on a phone.
                        overflow = page.evaluate(
                            "document.documentElement.scrollWidth - window.innerWidth"
                        )
                        assert overflow <= 1, f"{name} is {overflow}px too wide at {width}px"
                        page.screenshot(
                            path=str(SHOTS / f"console-{name}-{label}.png"),
                            full_page=name == "incident-open" and label == "desktop",
                        )
                        violations += [f"{name} ({label}): {v}" for v in _axe(page)]
                    context.close()
                assert violations == [], "\n".join(violations)
            finally:
                browser.close()
