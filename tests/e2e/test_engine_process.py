"""`warroom serve --engine-process`: the engine runs in a child of the server.

A real server on a scratch PostgreSQL database: a critical alert is declared an incident
by the child (the server itself runs no engine); a child killed with SIGKILL is replaced
and the next alert is routed too; the child ends with the server, whether the server
stops or is killed. On SQLite the option is refused with a message that names what it
needs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PG_URL, WARROOM, Server, run_server, scratch_postgres_database

pytestmark = [pytest.mark.e2e]

CONFIG = """
services:
  - {name: checkout}
  - {name: payments}
auto_declare:
  - name: critical-checkout
    when:
      alert:
        - {field: severity, equals: critical}
    declare: {severity: SEV2, service_from: details.service, title: "{summary}"}
alert_grouping:
  by_key: false
  by_alertmanager_group: false
  by_service: false
"""
WAIT = 30.0  # a bound on each wait, not a speed target


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended while we looked
        # pid (comm) state ppid …: comm may hold spaces and parentheses, so split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0]).lower()
    except (OSError, IndexError):
        return "gone"


def _until(what: str, probe: Callable[[], Any], server: Server) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    log = server.log.read_text(errors="replace")[-3000:]
    pytest.fail(f"{what} within {WAIT:.0f} s; the server's log ends:\n{log}", pytrace=False)


@pytest.fixture
def engine_apart(tmp_path: Path) -> Iterator[Server]:
    if not PG_URL:
        pytest.skip("WARROOM_TEST_DATABASE_URL is not set; --engine-process needs PostgreSQL")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "warroom.yaml").write_text(CONFIG)
    with (
        scratch_postgres_database(PG_URL) as database_url,
        run_server(database_url, tmp_path, "--engine-process", config=tmp_path / "config") as s,
    ):
        yield s


def _declared(api: httpx.Client, key: str, summary: str, service: str) -> Callable[[], bool]:
    # A service with an open incident adds a new alert to it: one service per alert.
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": summary,
        "payload": {
            "summary": summary,
            "source": "e2e",
            "severity": "critical",
            "custom_details": {"service": service},
        },
    }
    assert api.post("/v2/enqueue", json=event).status_code == 202

    def probe() -> bool:
        incidents = api.get("/api/v1/incidents").json()["items"]
        return any(i["title"] == summary for i in incidents)

    return probe


@pytest.mark.postgres
def test_the_child_engine_routes_is_replaced_when_killed_and_ends_with_the_server(
    engine_apart: Server,
) -> None:
    server = engine_apart
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10.0) as api:
        created = api.post(
            "/api/v1/integrations",
            json={"name": "e2e-pd", "type": "pagerduty", "service": "checkout"},
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]

        first = _until("the engine child to start", lambda: _children(server.pid), server)
        assert len(first) == 1
        _until("the first alert declared", _declared(api, key, "first outage", "checkout"), server)

        os.kill(first[0], signal.SIGKILL)
        second = _until(
            "another engine child to start",
            lambda: [p for p in _children(server.pid) if p != first[0] and _alive(p)],
            server,
        )
        assert len(second) == 1
        _until(
            "the second alert declared", _declared(api, key, "second outage", "payments"), server
        )
        assert "exited with status -9; starting another" in server.log.read_text()

    os.kill(server.pid, signal.SIGTERM)
    _until("the child to end with the server", lambda: not _alive(second[0]), server)


@pytest.mark.postgres
def test_the_child_engine_ends_when_the_server_is_killed(engine_apart: Server) -> None:
    server = engine_apart
    child = _until("the engine child to start", lambda: _children(server.pid), server)[0]
    os.kill(server.pid, signal.SIGKILL)
    _until("the orphaned child to stop by itself", lambda: not _alive(child), server)


def test_engine_process_is_refused_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'warroom.db'}",
    }
    done = subprocess.run(
        [*WARROOM, "serve", "--engine-process", "--port", "9"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    assert "--engine-process (WARROOM_ENGINE_PROCESS) needs PostgreSQL" in done.stderr
    assert not (tmp_path / "warroom.db").exists()  # refused before touching anything


def test_a_child_that_keeps_exiting_is_started_again_and_stopped_for_good() -> None:
    from warroom.engine.apart import EngineProcess

    crashing = EngineProcess(
        [sys.executable, "-c", "import sys; sys.exit(3)"], os.environ, delays=(0.05, 0.1)
    )
    crashing.start()
    deadline = time.monotonic() + WAIT
    while crashing.starts < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    crashing.stop(grace=5)
    starts = crashing.starts
    assert starts >= 4
    time.sleep(0.3)
    assert crashing.starts == starts  # none after stop
    assert crashing.pid is None


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    from warroom.engine.apart import EngineProcess

    ready = tmp_path / "ready"
    stubborn = EngineProcess(
        [
            sys.executable, "-c",
            "import pathlib, signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            f"pathlib.Path({str(ready)!r}).touch()\n"
            "time.sleep(60)",
        ],
        os.environ,
    )  # fmt: skip
    stubborn.start()
    pid = stubborn.pid
    assert pid is not None
    deadline = time.monotonic() + WAIT
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # until its SIGTERM handler is in place
    assert ready.exists()
    started = time.monotonic()
    stubborn.stop(grace=0.5)
    assert not _alive(pid)
    assert 0.5 <= time.monotonic() - started < 10
