"""A database that is down, hung or locked: 503 with Retry-After within the configured
bound on every route, /readyz says which, the log is not flooded, and the server recovers
by itself. Also: bodies are not read before the token is known (a real server, raw bytes)."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Tokens, _truncate
from tests.faults import Proxy, closed_port, silent_server
from warroom.app import create_app
from warroom.auth import service as tokens
from warroom.auth.logic import Role
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.hardening.faults import FaultLog
from warroom.settings import Settings

DB_TIMEOUT = 2.0
REQUEST_TIMEOUT = 4.0
# What a 503 may take at most: the bound plus scheduling slack on a busy machine.
BOUND = REQUEST_TIMEOUT + 2.0


def _app(url: str, config: WarroomConfig, clock: FakeClock) -> FastAPI:
    settings = Settings(
        database_url=url,
        auto_migrate=False,
        engine=False,
        db_timeout=DB_TIMEOUT,
        request_timeout_seconds=REQUEST_TIMEOUT,
    )
    db = Database(url, timeout=DB_TIMEOUT)
    return create_app(AppContext(settings=settings, db=db, config=config, clock=clock))


TOKEN = "wr_" + "a" * 43
ROUTES: list[tuple[str, str, dict[str, object]]] = [
    ("GET", "/api/v1/incidents", {"headers": {"Authorization": f"Bearer {TOKEN}"}}),
    (
        "POST",
        "/api/v1/incidents",
        {
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "json": {"title": "t", "severity": "SEV2"},
        },
    ),
    ("GET", "/", {"cookies": {"warroom_session": "s" * 43}}),
    ("POST", "/api/v1/heartbeats/nightly-backup", {}),
    (
        "POST",
        "/v2/enqueue",
        {
            "json": {
                "routing_key": "k" * 32,
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "h", "severity": "critical"},
            }
        },
    ),
]


def _assert_all_unavailable(client: TestClient) -> None:
    for method, path, kwargs in ROUTES:
        cookies = kwargs.pop("cookies", None) if "cookies" in kwargs else None
        if cookies:
            client.cookies.update(cookies)  # type: ignore[arg-type]
        started = time.monotonic()
        r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        took = time.monotonic() - started
        if cookies:
            kwargs["cookies"] = cookies
            client.cookies.clear()
        assert r.status_code == 503, (method, path, r.status_code, r.text[:300])
        assert int(r.headers["retry-after"]) > 0, (method, path)
        assert took < BOUND, (method, path, took)
        assert "Error" not in r.text and "Traceback" not in r.text  # no exception names
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"]
    assert client.get("/healthz").status_code == 200


def test_a_database_that_accepts_and_never_answers_is_503_within_the_bound(
    config: WarroomConfig, clock: FakeClock
) -> None:
    with silent_server() as port:
        app = _app(f"postgresql+psycopg://postgres@127.0.0.1:{port}/warroom", config, clock)
        with TestClient(app) as client:
            _assert_all_unavailable(client)
            assert client.get("/readyz").json()["reason"] == "timed out"


def test_a_database_that_is_down_is_503_on_every_route(
    config: WarroomConfig, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/warroom", config, clock)
    with TestClient(app) as client, caplog.at_level(logging.ERROR):
        _assert_all_unavailable(client)
        assert client.get("/readyz").json()["reason"] == "connection refused"
        for _ in range(30):
            assert client.get("/api/v1/incidents", **ROUTES[0][2]).status_code == 503  # type: ignore[arg-type]
    tracebacks = [r for r in caplog.records if r.exc_info]
    # 35+ failures in a few seconds: at most one traceback per kind of failure.
    assert len(tracebacks) <= 2, [r.getMessage() for r in tracebacks]


def test_tracebacks_are_rate_limited_per_kind() -> None:
    now = [0.0]
    faults = FaultLog(interval=10, clock=lambda: now[0])
    written = [faults.report("x", ConnectionError()) for _ in range(100)]
    assert written.count(True) == 1
    assert faults.report("y", ValueError())  # another kind is logged on its own
    now[0] = 10.5
    assert faults.report("x", ConnectionError())  # and again after the interval


def test_a_locked_sqlite_database_is_503_then_recovers(
    sqlite_template: Path, tmp_path: Path, config: WarroomConfig, clock: FakeClock
) -> None:
    path = tmp_path / "warroom.db"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    seed = Database(url)
    with seed.unit_of_work() as uow:
        _, token = tokens.create(
            uow.session, name="r", role=Role.RESPONDER, user=None, now=clock.now()
        )
        uow.commit()
    seed.dispose()
    holder = sqlite3.connect(path, isolation_level=None)
    app = _app(url, config, clock)
    body = {"title": "Checkout down", "severity": "SEV2"}
    with TestClient(app) as client:
        holder.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            r = client.post(
                "/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 503 and r.headers["retry-after"], r.text
            assert time.monotonic() - started < BOUND
            r = client.get("/readyz")
            assert r.status_code == 503 and r.json()["reason"] == "locked"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # The lock is gone: the same request succeeds, with nothing restarted.
        r = client.post(
            "/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
        assert client.get("/readyz").status_code == 200


@pytest.mark.postgres
def test_postgresql_stalled_refused_and_back(
    pg_database: str, config: WarroomConfig, clock: FakeClock
) -> None:
    real = Database(pg_database)
    _truncate(real)
    with real.unit_of_work() as uow:
        _, token = tokens.create(
            uow.session, name="v", role=Role.VIEWER, user=None, now=clock.now()
        )
        uow.commit()
    real.dispose()
    parts = urlsplit(pg_database.replace("postgresql+psycopg", "postgresql"))
    headers = {"Authorization": f"Bearer {token}"}
    with Proxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
        via = pg_database.replace(
            f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{proxy.port}"
        )
        assert str(proxy.port) in via
        with TestClient(_app(via, config, clock)) as client:
            assert client.get("/api/v1/incidents", headers=headers).status_code == 200
            for mode in ("stall", "refuse"):
                proxy.set(mode)
                started = time.monotonic()
                r = client.get("/api/v1/incidents", headers=headers)
                assert r.status_code == 503 and r.headers["retry-after"], (mode, r.text)
                assert time.monotonic() - started < BOUND, mode
                assert client.get("/readyz").status_code == 503
            proxy.set("forward")
            deadline = time.monotonic() + 3 * BOUND
            statuses = []
            while time.monotonic() < deadline:
                statuses.append(client.get("/api/v1/incidents", headers=headers).status_code)
                if statuses[-1] == 200:
                    break
                time.sleep(0.2)
            assert statuses[-1] == 200, statuses
            assert client.get("/readyz").status_code == 200


# --- bodies are not read before the token is known (a real server) --------------------------


@contextmanager
def live(app: FastAPI) -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _raw_request(port: int, head: str, first_bytes: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + first_bytes)
        return sock.recv(4096)


def test_a_big_body_without_a_token_is_401_without_being_read(
    ctx: AppContext, api_tokens: Tokens
) -> None:
    with live(create_app(ctx)) as port:
        # 50 MB announced, 64 KB sent: the answer comes at once, without waiting for the rest.
        head = (
            "POST /api/v1/incidents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n"
        )
        started = time.monotonic()
        answer = _raw_request(port, head, b"[" * 65536)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert time.monotonic() - started < 3
        # With a token, the announced size alone is refused: 413 before reading.
        head = (
            "POST /api/v1/incidents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {api_tokens.responder}\r\n"
            "Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n"
        )
        answer = _raw_request(port, head, b"[" * 65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
