"""The postmortem edit page in a real Chromium: edit a section, add a five-whys chain,
submit for review, publish; user text stays text, and nothing trips the CSP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, Server, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_postmortem_is_written_and_published_in_the_browser(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as api:
        r = api.post("/api/v1/incidents", json={
            "title": "Checkout <b>down</b>", "severity": "SEV1",
            "services": ["payment-service"], "commander": "jane.smith"})  # fmt: skip
        assert r.status_code == 201, r.text
        key = r.json()["id"]
        r = api.post(f"/api/v1/incidents/{key}/status", json={"status": "resolved"})
        assert r.status_code == 200, r.text

        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                problems.append(f"console {message.type}: {message.text}")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1400})
                context.set_default_timeout(5_000)
                page = context.new_page()
                page.on("console", on_console)
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

                page.goto(f"{server.url}/incidents/{key}")
                page.fill("#token", server.token)
                page.click("button[type=submit]")
                expect(page).to_have_url(f"{server.url}/incidents/{key}")
                page.click("#postmortem-link")
                expect(page).to_have_url(f"{server.url}/incidents/{key}/postmortem")
                expect(page.locator("h1")).to_contain_text("Postmortem: Checkout <b>down</b>")
                expect(page.locator("#pm-status")).to_have_text("draft")
                expect(page.locator("#section-summary")).to_have_value("Checkout <b>down</b>")

                # Publishing too early is refused with the reason, nothing lost.
                page.click("#move-in_review")
                page.click("#move-published")
                expect(page.locator("#pm-error")).to_contain_text("fill in root_cause")
                page.click("#move-draft")

                page.fill("#section-root_cause", "A connection leak <script>alert(1)</script>")
                page.fill("#why-0", "did checkout fail?")
                page.fill("#because-0", "the pool was exhausted")
                page.click("#save")
                expect(page.locator("#why-1")).to_have_value("")
                page.fill("#why-1", "was the pool exhausted?")
                page.fill("#because-1", "connections leaked in v2.3.1")
                page.fill("#section-lessons_learned", "Alert on pool saturation.")
                page.click("#save")
                expect(page.locator("#because-1")).to_have_value("connections leaked in v2.3.1")
                expect(page.locator("#section-root_cause")).to_have_value(
                    "A connection leak <script>alert(1)</script>"
                )

                # A follow-up, added and moved from the same page; its title stays text.
                page.fill("#item-title", "Alert on <i>pool</i> saturation")
                page.select_option("#item-priority", "P1")
                page.select_option("#item-type", "detective")
                page.fill("#item-owner", "bob.wilson")
                page.click("#item-add")
                items = page.locator("#action-items tbody tr")
                expect(items).to_have_count(1)
                expect(items.first).to_contain_text("Alert on <i>pool</i> saturation")
                page.select_option("#action-items select[name=status]", "in_progress")
                page.click("#action-items button")
                expect(page.locator("#action-items select[name=status]")).to_have_value(
                    "in_progress"
                )

                page.click("#move-in_review")
                expect(page.locator("#pm-status")).to_have_text("in_review")
                page.click("#move-published")
                expect(page.locator("#pm-status")).to_have_text("published")
                expect(page.locator("#save")).to_have_count(0)
                expect(page.locator("#section-summary")).to_have_attribute("readonly", "")
                page.screenshot(path=str(tmp_path / "postmortem.png"), full_page=True)
            finally:
                browser.close()

        # The one refused publish is a 422 page, which Chromium reports; nothing else.
        refused = [p for p in problems if "status of 422" in p]
        assert len(refused) == 1 and len(problems) == 1, problems
        pm = api.get(f"/api/v1/incidents/{key}/postmortem").json()
        assert pm["status"] == "published"
        assert pm["five_whys"] == [
            {"why": "did checkout fail?", "because": "the pool was exhausted"},
            {"why": "was the pool exhausted?", "because": "connections leaked in v2.3.1"},
        ]
        assert pm["sections"]["lessons_learned"] == "Alert on pool saturation."
        listed = api.get("/api/v1/action-items", params={"incident": key}).json()["items"]
        assert [(i["title"], i["priority"], i["status"]) for i in listed] == [
            ("Alert on <i>pool</i> saturation", "P1", "in_progress")
        ]
        # A form post without the CSRF token changes nothing.
        with httpx.Client(base_url=server.url) as session:
            login = session.post("/login", data={"token": server.token})
            assert login.status_code < 400 and session.cookies.get("warroom_session")
            forged = session.post(f"/incidents/{key}/postmortem/status", data={"status": "draft"})
        assert forged.status_code == 403
        assert api.get(f"/api/v1/incidents/{key}/postmortem").json()["status"] == "published"
