"""The incident room in a real Chromium: tick a checklist step, confirm a handoff, grant an
approval, each through HTMX, each landing on the timeline (issue 13)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, Server, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _token(api: httpx.Client, user: str) -> str:
    r = api.post("/api/v1/tokens", json={"name": f"web-{user}", "role": "responder", "user": user})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_the_room_shows_what_to_do_next_and_does_it(server: Server, tmp_path: Path) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=5
    ) as api:
        jane, bob = _token(api, "jane.smith"), _token(api, "bob.wilson")
        r = api.post(
            "/api/v1/incidents",
            json={"title": "DB pool <exhausted>", "severity": "SEV1", "services": ["database"],
                  "commander": "jane.smith"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        key = r.json()["id"]
        base = f"/api/v1/incidents/{key}"
        r = api.post(
            base + "/approvals",
            json={"action": "Database schema changes", "reason": "add <b>index</b>"},
            headers={"Authorization": f"Bearer {bob}"},
        )
        assert r.status_code == 201, r.text
        r = api.post(
            base + "/handoffs",
            json={"to": "bob.wilson"},
            headers={"Authorization": f"Bearer {jane}"},
        )
        assert r.status_code == 201, r.text

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(5_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.goto(f"{server.url}/login?next=/incidents/{key}")
            page.fill("#token", bob)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server.url}/incidents/{key}")
            page.evaluate("window.warroomNoReload = true")
            room = page.locator("#next")
            expect(room.locator("h2")).to_have_text("Next: detection")
            # Escaped, not interpreted.
            expect(room).to_contain_text("add <b>index</b>")
            expect(page.locator("h1")).to_contain_text("DB pool <exhausted>")
            timeline = page.locator("table.timeline")

            # Tick a step.
            step = page.locator("#step-acknowledge-alert-within-sla")
            expect(step).to_contain_text("Acknowledge alert within SLA")
            step.locator("button").click()
            expect(timeline).to_contain_text(
                "Checklist (detection): Done: Acknowledge alert within SLA"
            )
            expect(page.locator("#step-acknowledge-alert-within-sla")).to_have_count(0)

            # Bob may not grant while Jane commands: the refusal names her.
            approval = page.locator(".approval", has_text="Database schema changes")
            approval.locator("input[name=reason]").fill("looks right")
            approval.locator("button[value=true]").click()
            expect(page.locator(".flash.error")).to_contain_text("(jane.smith)")

            # Confirm the handoff: Bob takes command.
            page.click("#confirm-handoff")
            expect(timeline).to_contain_text(
                "Command handed off: bob.wilson confirmed taking over as Incident Commander"
                " from jane.smith"
            )
            expect(page.locator("dl.roles")).to_contain_text("bob.wilson")
            expect(page.locator("#pending-handoff")).to_have_count(0)

            # Now the IC, Bob grants the approval.
            approval = page.locator(".approval", has_text="Database schema changes")
            approval.locator("input[name=reason]").fill("index only, rollback ready")
            approval.locator("button[value=true]").click()
            expect(timeline).to_contain_text(
                "Approval granted by bob.wilson: Database schema changes: "
                "index only, rollback ready"
            )
            expect(page.locator(".approval")).to_have_count(0)
            page.screenshot(path=str(tmp_path / "room.png"), full_page=True)
        finally:
            browser.close()
    assert [p for p in problems if "403" not in p] == []
