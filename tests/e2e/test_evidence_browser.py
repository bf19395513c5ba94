"""Evidence from the incident page in a real Chromium against a real server process: upload
a file, see it listed with its SHA-256, verify it, with no console error on the way."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    warroom_served,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def locker_server(tmp_path: Path) -> Iterator[Server]:
    """warroom under uvicorn with the evidence locker on."""
    extra = {
        "WARROOM_EVIDENCE_KEY": secrets.token_urlsafe(40),
        "WARROOM_EVIDENCE_DIR": str(tmp_path / "locker"),
    }
    with warroom_served(tmp_path, extra, timeout=60) as served:
        yield served


def test_upload_evidence_from_the_incident_page(locker_server: Server, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    server = locker_server
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
    ) as api:
        r = api.post(
            "/api/v1/incidents",
            json={"title": "Suspicious logins", "severity": "SEV1", "restricted": True},
        )
        assert r.status_code == 201, r.text
        key = r.json()["id"]
        source = tmp_path / "auth.log"
        source.write_bytes(os.urandom(3 * 1024 * 1024))  # larger than the guard's body limit
        sha = hashlib.sha256(source.read_bytes()).hexdigest()
        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                problems.append(f"console {message.type}: {message.text}")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.set_default_timeout(10_000)
                page.on("console", on_console)
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
                page.goto(f"{server.url}/login?next=/incidents/{key}")
                page.fill("#token", server.token)
                page.click("button[type=submit]")
                expect(page).to_have_url(f"{server.url}/incidents/{key}")
                expect(page.locator("#evidence")).to_contain_text("No evidence yet.")

                form = page.locator("#evidence-upload")
                form.locator("input[name=reason]").fill("collected before isolation")
                form.locator("input[type=file]").set_input_files(str(source))
                form.locator("button[type=submit]").click()
                row = page.locator("#evidence-list tbody tr", has_text="auth.log")
                expect(row).to_contain_text(sha)
                expect(row).to_contain_text("3.0 MiB")
                expect(row).to_contain_text("collected before isolation")

                page.click("#verify-evidence")
                expect(page.locator(".flash.ok")).to_contain_text("Evidence verified: 1 item(s)")
                expect(row.locator(".verified")).to_have_text("intact")
                page.screenshot(path=str(tmp_path / "evidence.png"), full_page=True)
            finally:
                browser.close()
        assert problems == []
        listed = api.get(f"/api/v1/incidents/{key}/evidence").json()
        assert [(i["name"], i["sha256"]) for i in listed] == [("auth.log", sha)]
        actions = [e["action"] for e in api.get(f"/api/v1/incidents/{key}/custody").json()]
        assert actions == ["add", "verify"]
