"""The public status page over real HTTP, from a real server: the engine publishes a
public update within seconds, and the page and `summary.json` keep answering with the
last snapshot after the database is gone (a SQLite file overwritten with junk; a
throwaway PostgreSQL cluster stopped)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, _free_port, run_server

PUBLISH_TIMEOUT = 15.0
SECRET = "internal: bob dropped the primary"


def _publish_incident(server: Server) -> dict[str, object]:
    """Declare an incident, make a public update, wait until the page shows it."""
    auth = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=10.0) as client:
        made = client.post(
            "/api/v1/incidents",
            json={"title": SECRET, "severity": "SEV1", "services": ["api-gateway"]},
        )
        assert made.status_code == 201, made.text
        key = made.json()["id"]
        body = {
            "status": "identified",
            "public": True,
            "message": "Some API requests fail; a fix is under way.",
            "components": {"API": "partial_outage"},
        }
        changed = client.post(f"/api/v1/incidents/{key}/status", json=body)
        if changed.status_code == 503:
            # On PostgreSQL the change can deadlock with the engine paging the same
            # incident (it locks the timer, then the incident; the verb the other way
            # round); the API says to retry after Retry-After, as a client would.
            time.sleep(float(changed.headers.get("retry-after", "1")))
            changed = client.post(f"/api/v1/incidents/{key}/status", json=body)
        assert changed.status_code == 200, changed.text
    deadline = time.monotonic() + PUBLISH_TIMEOUT
    with httpx.Client(base_url=server.url, timeout=5.0) as public:
        while time.monotonic() < deadline:
            summary = public.get("/status/api/v2/summary.json")
            if summary.status_code == 200 and summary.json()["incidents"]:
                data: dict[str, object] = summary.json()
                return data
            time.sleep(0.2)
    pytest.fail("the public update did not reach summary.json in time")


def _read_public_pages(url: str, expected_summary: dict[str, object]) -> None:
    """Read the page and summary.json, alone and 200 times from 8 threads: all 200."""
    with httpx.Client(base_url=url, timeout=5.0) as client:
        page = client.get("/status")
        assert page.status_code == 200
        assert "Partial System Outage" in page.text
        assert "Some API requests fail" in page.text
        assert SECRET not in page.text
        assert "set-cookie" not in page.headers
        assert client.get("/status/api/v2/summary.json").json() == expected_summary
        again = client.get("/status", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304

    def fetch(i: int) -> int:
        path = "/status" if i % 2 else "/status/api/v2/summary.json"
        return httpx.get(f"{url}{path}", timeout=5.0).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(fetch, range(200)))
    assert codes == [200] * 200


def test_sqlite_page_outlives_its_database(tmp_path: Path) -> None:
    database = tmp_path / "warroom.db"
    with run_server(f"sqlite:///{database}", tmp_path) as server:
        summary = _publish_incident(server)
        assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
        # The database becomes junk under the running server.
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if path.exists():
                with path.open("r+b") as handle:
                    handle.write(b"\xde\xad" * 4096)
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            broken = client.get(
                "/api/v1/incidents", headers={"Authorization": f"Bearer {server.token}"}
            )
            assert broken.status_code >= 500
        _read_public_pages(server.url, summary)


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@contextmanager
def throwaway_cluster(folder: Path) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL cluster of our own on a free port (trust auth), removed at the end."""
    binaries = _postgres_bin()
    if binaries is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    data = folder / "pgdata"
    data.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 60}
    subprocess.run(
        [*as_postgres, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        **run,  # type: ignore[call-overload]
    )
    ctl = [*as_postgres, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-t", "30"]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    try:
        # The server's own log goes to a file: it must not hold our pipes open.
        subprocess.run(
            [*ctl, "-l", str(folder / "postgres.log"), "-o", options, "start"],
            **run,  # type: ignore[call-overload]
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], check=False, capture_output=True)


def test_postgresql_page_outlives_its_stopped_cluster(tmp_path: Path) -> None:
    # Outside pytest's private temporary folder, which the postgres user cannot enter.
    cluster_dir = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    with throwaway_cluster(cluster_dir) as (url, data), run_server(url, server_dir) as server:
        summary = _publish_incident(server)
        binaries = _postgres_bin()
        assert binaries is not None
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                *as_postgres,
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            assert client.get("/readyz").status_code == 503
        _read_public_pages(server.url, summary)
    shutil.rmtree(cluster_dir, ignore_errors=True)
