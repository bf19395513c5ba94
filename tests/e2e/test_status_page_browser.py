"""The public status page in headless Chromium with JavaScript off, as a customer sees it:
the banner, components, the active incident with escaped text, the stylesheet applied
under the page's Content-Security-Policy, and a screenshot whose banner is the colour of
a partial outage."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import run_server
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TITLE = 'Checkout "cart" errors & <slow> payments'


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into its pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, width, height, kind = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if tag == b"IHDR":
            width, height, depth, kind = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and kind in (2, 6), (depth, kind)
        elif tag == b"IDAT":
            chunks += body
        pos += 12 + length
    size = 4 if kind == 6 else 3
    raw, stride = zlib.decompress(chunks), width * (4 if kind == 6 else 3)
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind_byte = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - size] if x >= size else 0
            b = previous[x]
            c = previous[x - size] if x >= size else 0
            if kind_byte == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind_byte == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind_byte == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind_byte == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        previous = line
    pixels = [(r[x], r[x + 1], r[x + 2]) for r in rows for x in range(0, stride, size)]
    return width, height, pixels


def test_a_customer_reads_the_status_page_without_javascript(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import ConsoleMessage, expect, sync_playwright

    with run_server(f"sqlite:///{tmp_path / 'warroom.db'}", tmp_path) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=5) as api:
            made = api.post(
                "/api/v1/incidents",
                json={"title": "internal only", "severity": "SEV1", "services": ["api-gateway"]},
            )
            key = made.json()["id"]
            published = api.post(
                f"/api/v1/status-page/incidents/{key}",
                json={
                    "status": "identified",
                    "title": TITLE,
                    "message": "<script>alert(1)</script> We found the cause.",
                    "components": {"Payments": "partial_outage"},
                },
            )
            assert published.status_code == 200, published.text
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "Partial System Outage" in httpx.get(f"{server.url}/status").text:
                break
            time.sleep(0.2)

        problems: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "warning"):
                problems.append(f"console {message.type}: {message.text}")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = browser.new_context(
                    viewport={"width": 1100, "height": 900}, java_script_enabled=False
                )
                context.set_default_timeout(5_000)
                page = context.new_page()
                page.on("console", on_console)
                response = page.goto(f"{server.url}/status")
                assert response is not None and response.status == 200
                banner = page.locator(".banner")
                expect(banner).to_have_text("Partial System Outage")
                expect(page.locator(".incident h2")).to_have_text(TITLE)
                expect(page.locator(".incident .body").first).to_contain_text(
                    "<script>alert(1)</script> We found the cause."
                )
                row = page.locator(".component", has_text="Payments")
                expect(row.locator(".cstatus")).to_have_text("Partial Outage")
                expect(row.locator(".bar")).to_have_count(90)
                # The stylesheet applied (served by warroom, allowed by the CSP).
                colour = banner.evaluate("e => getComputedStyle(e).backgroundColor")
                assert colour == "rgb(230, 126, 34)", colour
                assert context.cookies() == []
                page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
                shot = banner.screenshot()
                width, height, pixels = png_pixels(shot)
                orange = sum(1 for p in pixels if p == (230, 126, 34))
                assert orange > 0.6 * width * height, (orange, width * height)

                page.click("text=Incident history")
                expect(page.locator("h1")).to_have_text("Incident history")
                page.locator(".incident a", has_text="Checkout").click()
                expect(page.locator("h1")).to_have_text(TITLE)
            finally:
                browser.close()
        assert problems == [], problems
        assert "internal only" not in (tmp_path / "status" / "index.html").read_text()
