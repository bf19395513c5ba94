"""The console's on-call and settings pages in a real Chromium (issue 19, items 5-8).

`warroom demo` fills the server's database; then, in the browser: the on-call page names
the browser's time zone, an override is made from a schedule's page, and an admin token
from the settings page (its secret shown once, and working). Screenshots at desktop and
phone width go to docs/img/ (docs/web.md shows them); at phone width no page is wider
than the screen.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SCREENSHOTS,
    Server,
    _free_port,
    uvicorn_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = SCREENSHOTS
PAGES = {
    "dashboard": "/",
    "oncall": "/oncall",
    "schedule": "/schedules/incident-commander",
    "notifications": "/notifications",
    "settings": "/settings",
}


def _demo(database: Path) -> str:
    """Run `warroom demo` into a new database; return the admin token it prints."""
    env = {**os.environ, "WARROOM_DATABASE_URL": f"sqlite:///{database}",
           "WARROOM_CONFIG": str(ROOT / "examples")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "warroom.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    token = done.stdout.strip().splitlines()[-2]
    assert token.startswith("wr_"), done.stdout
    return token


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Server]:
    """`warroom demo` into a SQLite file, then warroom serving it on a free port."""
    database = tmp_path / "warroom.db"
    token = _demo(database)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "WARROOM_DATABASE_URL": f"sqlite:///{database}",
           "WARROOM_CONFIG": str(ROOT / "examples"), "WARROOM_BASE_URL": url}  # fmt: skip
    with uvicorn_app(env, tmp_path, port, timeout=90):
        yield Server(url=url, token=token)


def test_an_override_and_a_token_from_the_console(demo_server: Server) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    server, token = demo_server, demo_server.token
    problems: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin"
            )
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.goto(f"{server.url}/login?next=/oncall")
            page.fill("#token", token)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server.url}/oncall")
            # The first page set the browser's zone; from the next one on, times are in it.
            page.reload()
            expect(page.locator("#zone")).to_contain_text("Europe/Berlin")
            expect(page.locator("#zone")).to_contain_text("your browser time zone")
            expect(page.locator("nav.mainnav a[aria-current=page]")).to_have_text("On-call")

            # An override from the schedule's page.
            page.click("#schedules-on-call a[href='/schedules/incident-commander']")
            expect(page).to_have_url(f"{server.url}/schedules/incident-commander")
            form = page.locator("#override-form")
            form.locator("select[name=kind]").select_option("add")
            form.locator("input[name=user]").fill("mike.chen")
            form.locator("input[name=reason]").fill("Shadowing <the> primary")
            form.locator("#add-override").click()
            expect(page.locator(".flash.ok")).to_contain_text("added: add mike.chen.")
            expect(page.locator("#overrides")).to_contain_text("Shadowing <the> primary")
            expect(page.locator("#schedule-now")).to_contain_text("mike.chen")

            # A token from the settings page: shown once, and it works.
            page.click("nav.mainnav a[href='/settings']")
            page.fill("#tk-name", "pager-bot")
            page.select_option("#tk-role", "responder")
            page.fill("#tk-user", "bob.wilson")
            page.click("#create-token")
            secret = page.locator("#new-secret")
            expect(secret).to_have_value(re.compile(r"^wr_"))
            value = secret.input_value()
            page.click("button[data-copy='#new-secret']")
            expect(page.locator("button[data-copy='#new-secret']")).to_have_text("Copied")
            expect(page.locator("#tokens")).to_contain_text("pager-bot")
            with httpx.Client(base_url=server.url, timeout=10) as http:
                who = http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {value}"})
            assert who.json() == {"name": "pager-bot", "role": "responder", "user": "bob.wilson"}
            page.goto(f"{server.url}/settings")  # not a reload: that would post the form again
            expect(page.locator("#new-secret")).to_have_count(0)

            for name, path in PAGES.items():
                page.goto(f"{server.url}{path}")
                page.screenshot(
                    path=str(SHOTS / f"console-{name}-1280.png"), full_page=name != "notifications"
                )

            phone = browser.new_context(
                viewport={"width": 390, "height": 844},
                timezone_id="America/New_York",
                device_scale_factor=1,
                is_mobile=True,
                has_touch=True,
            )
            phone.add_cookies(
                [c for c in context.cookies() if c["name"] == "warroom_session"]  # type: ignore[misc]
            )
            mobile = phone.new_page()
            mobile.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            for name, path in PAGES.items():
                mobile.goto(f"{server.url}{path}")
                mobile.reload()  # the zone cookie is set now
                mobile.screenshot(
                    path=str(SHOTS / f"console-{name}-390.png"), full_page=name != "notifications"
                )
                wide = mobile.evaluate("document.documentElement.scrollWidth")
                if wide > 390:
                    problems.append(f"{path} is {wide}px wide at 390")
            expect(mobile.locator("#zone")).to_have_count(1)
            mobile.goto(f"{server.url}/oncall")
            expect(mobile.locator("#zone")).to_contain_text("America/New_York")
        finally:
            browser.close()
    assert problems == []
