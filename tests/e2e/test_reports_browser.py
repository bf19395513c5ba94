"""The reports dashboard in a real Chromium: log in, the charts render, the period form
works, and nothing trips the CSP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, Server, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_the_reports_dashboard_draws_its_charts_in_the_browser(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
        body = {"title": "Checkout down", "severity": "SEV1", "services": ["payment-service"]}
        r = api.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)  # fmt: skip
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1400})
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.on("console", on_console)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.goto(f"{server.url}/reports")
            page.fill("#token", server.token)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server.url}/reports")
            expect(page.locator("h1")).to_have_text("Reports")
            # Today's incident is not in last week's report; this year's has it.
            page.select_option("select[name=period]", "annual")
            page.fill("input[name=on]", page.evaluate("new Date().toISOString().slice(0, 10)"))
            page.click(".report-picker button[type=submit]")
            expect(page.locator("#report-count")).to_have_text("1")
            bar = page.locator('rect.chart-bar:not([height="0.0"])').first
            expect(bar).to_be_visible()
            assert (bar.bounding_box() or {}).get("height", 0) > 0
            page.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
