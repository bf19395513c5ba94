"""The published directory served by Debian's nginx with docs/status-page.nginx.conf,
unchanged but for the directory and port: the same bytes as warroom serves, gzip, the
extensionless pages, and nothing that is not public."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _free_port
from warroom.statuspage.documents import IncidentFacts, PageFacts, UpdateFacts
from warroom.statuspage.publish import render_all, write_snapshot

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def published() -> Iterator[tuple[Path, str]]:
    from datetime import UTC, datetime

    now = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    incident = IncidentFacts(
        id=1, name="Slow <checkout>", status="identified", impact="minor", created_at=now,
        updated_at=now, resolved_at=None, components=[],
        updates=[UpdateFacts(id=1, status="identified", body="Fixing.", created_at=now)],
    )  # fmt: skip
    page = PageFacts(
        name="Acme", url="/status", time_zone="Etc/UTC", updated_at=now, today=now.date(),
        components=[], incidents=[incident], maintenances=[],
    )  # fmt: skip
    # Outside pytest's private temporary folder: nginx's workers are not root.
    folder = Path(tempfile.mkdtemp(prefix="warroom-nginx-"))
    folder.chmod(0o755)
    write_snapshot(folder / "status", render_all(page), version=f"v1 {now.isoformat()}")
    yield folder, incident.code
    shutil.rmtree(folder, ignore_errors=True)


def test_nginx_serves_the_snapshot_with_the_sample_config(published: tuple[Path, str]) -> None:
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    folder, code = published
    directory = folder / "status"
    port = _free_port()
    server = (ROOT / "docs" / "status-page.nginx.conf").read_text()
    server = server.replace("/var/lib/warroom/status", str(directory))
    server = server.replace("127.0.0.1:8081", f"127.0.0.1:{port}")
    temp = folder / "tmp"
    temp.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(
        f"pid {folder}/nginx.pid;\nerror_log stderr warn;\nevents {{}}\nhttp {{\n"
        f"access_log off;\nclient_body_temp_path {temp};\nproxy_temp_path {temp};\n"
        f"fastcgi_temp_path {temp};\nuwsgi_temp_path {temp};\nscgi_temp_path {temp};\n"
        f"{server}\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/status", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=5) as client:
            page = client.get("/status")
            assert page.status_code == 200
            assert page.text == (directory / "index.html").read_text()
            assert page.headers["content-type"].startswith("text/html")
            assert "stale-if-error=86400" in page.headers["cache-control"]
            assert "Slow &lt;checkout&gt;" in page.text
            assert client.get("/status/history").text == (directory / "history.html").read_text()
            assert client.get(f"/status/incidents/{code}").status_code == 200
            raw = client.get("/status/api/v2/summary.json", headers={"Accept-Encoding": "gzip"})
            assert raw.headers.get("content-encoding") == "gzip"
            assert raw.json()["incidents"][0]["name"] == "Slow <checkout>"
            assert (
                gzip.decompress((directory / "api/v2/summary.json.gz").read_bytes())
                == (directory / "api/v2/summary.json").read_bytes()
            )
            assert client.get("/status/api/v2/status.json").json()["status"]["indicator"] == (
                "minor"
            )
            assert client.get("/status/VERSION").status_code == 404
            assert client.get("/status/index.html.gz").status_code == 404
            assert client.get("/status/incidents/nope").status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
