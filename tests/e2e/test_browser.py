"""The web shell in a real Chromium against a real server process.

Log in with a token, find the incident on the dashboard, open it, acknowledge it, move it
to identified and add a note, all through HTMX without a page load, and with no console
error on the way (a Content-Security-Policy violation would be one).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Where the console tests save their screenshots: a scratch folder, so that a test run
#: leaves the checkout as it was; `WARROOM_SCREENSHOTS=docs/img` refreshes the pictures the
#: docs show (docs/web.md).
SCREENSHOTS = Path(os.environ.get("WARROOM_SCREENSHOTS") or ROOT / ".pytest-screenshots")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@dataclass
class Server:
    url: str
    token: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if http.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz within {timeout} s:\n{log.read_text()}")


@contextmanager
def uvicorn_app(env: dict[str, str], cwd: Path, port: int, *, timeout: float) -> Iterator[str]:
    """warroom's app factory under uvicorn on `port` with `env`, its log in `cwd`; yields the
    URL once /healthz answers (within `timeout`), and stops the server after the block."""
    url = f"http://127.0.0.1:{port}"
    log = cwd / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "warroom.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(url, proc, log, timeout=timeout)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@contextmanager
def warroom_served(
    tmp_path: Path, extra_env: dict[str, str] | None = None, *, timeout: float = 90
) -> Iterator[Server]:
    """warroom under uvicorn on a free port, SQLite in tmp_path, the example configuration
    (and `extra_env`), with a bootstrap admin token."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(30)[:40]
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'warroom.db'}",
        "WARROOM_CONFIG": str(ROOT / "examples"),
        "WARROOM_BOOTSTRAP_TOKEN": token,
        "WARROOM_BASE_URL": url,
        **(extra_env or {}),
    }
    with uvicorn_app(env, tmp_path, port, timeout=timeout):
        yield Server(url=url, token=token)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """warroom under uvicorn on a free port, SQLite in tmp_path, the example configuration."""
    with warroom_served(tmp_path) as served:  # timeout 90 s: a busy CI machine starts slowly
        yield served


def test_a_responder_works_an_incident_in_the_browser(server: Server, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=5
    ) as api:
        r = api.post(
            "/api/v1/incidents",
            json={
                "title": "Payment processing failing",
                "severity": "SEV1",
                "services": ["payment-service", "api-gateway"],
                "commander": "jane.smith",
            },
        )
        assert r.status_code == 201, r.text
        key = r.json()["id"]

        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                where = message.location.get("url", "")
                problems.append(f"console {message.type}: {message.text} ({where})")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(5_000)
                page = context.new_page()
                page.on("console", on_console)
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

                # Log in through the form; land on the dashboard.
                page.goto(f"{server.url}/")
                expect(page).to_have_url(f"{server.url}/login?next=%2F")
                page.fill("#token", server.token)
                page.click("button[type=submit]")
                expect(page).to_have_url(f"{server.url}/")
                row = page.locator("table.incidents tbody tr", has_text=key)
                expect(row).to_contain_text("Payment processing failing")
                expect(row.locator(".sev")).to_have_text("SEV1")
                expect(page.locator("header .token")).to_have_text("bootstrap")

                # The list refreshes in place (every 30 s, and when the tab is shown again).
                second = api.post(
                    "/api/v1/incidents", json={"title": "Search is slow", "severity": "SEV3"}
                )
                assert second.status_code == 201, second.text
                polls: list[str] = []
                page.on(
                    "request",
                    lambda request: (
                        polls.append(request.url) if "/fragments/" in request.url else None
                    ),
                )
                # While the tab is hidden a refresh is skipped...
                page.evaluate(
                    "Object.defineProperty(document, 'visibilityState',"
                    " {value: 'hidden', configurable: true});"
                    " htmx.trigger('#incident-list', 'wr-refresh')"
                )
                page.wait_for_timeout(300)
                assert polls == []
                expect(page.locator("table.incidents")).not_to_contain_text("Search is slow")
                # ...and happens at once when it is shown again.
                page.evaluate(
                    "delete document.visibilityState;"
                    " document.dispatchEvent(new Event('visibilitychange'))"
                )
                expect(page.locator("table.incidents")).to_contain_text("Search is slow")
                assert len(polls) == 1
                page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

                # Open the incident; from here on every change is an HTMX swap.
                row.locator("a", has_text=key).click()
                expect(page).to_have_url(f"{server.url}/incidents/{key}")
                expect(page.locator("h1")).to_contain_text("Payment processing failing")
                page.evaluate("window.warroomNoReload = true")

                page.click("#ack")
                timeline = page.locator("table.timeline")
                expect(timeline).to_contain_text("Acknowledged by bootstrap")
                expect(page.locator(".flash.ok")).to_have_text("Acknowledged.")
                expect(page.locator("#ack")).to_have_count(0)

                page.select_option("#status", "identified")
                page.fill("input[name=message]", "Connection leak in v2.3.1")
                page.click("form[hx-post$='/status'] button")
                expect(timeline).to_contain_text(
                    "Status changed to identified: Connection leak in v2.3.1"
                )
                expect(page.locator(".badges .status")).to_have_text("identified")

                page.select_option("select[name=type]", "action")
                page.fill("#note", "Rolling back to v2.3.0")
                page.click("form[hx-post$='/events'] button")
                expect(timeline).to_contain_text("Rolling back to v2.3.0")
                expect(page.locator("#note")).to_have_value("")

                assert page.evaluate("window.warroomNoReload") is True, "the page reloaded"
                page.screenshot(path=str(tmp_path / "incident.png"), full_page=True)
                context.close()
            finally:
                browser.close()

        incident = api.get(f"/api/v1/incidents/{key}").json()
        assert incident["status"] == "identified"
        assert incident["acknowledged_at"] is not None
        events = api.get(f"/api/v1/incidents/{key}/timeline").json()["events"]
        assert [e["type"] for e in events][-3:] == ["acknowledgement", "status_change", "action"]
        assert problems == []
