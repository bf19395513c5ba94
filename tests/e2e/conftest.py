"""A real warroom server in a subprocess, and the `warroom` command line run against it.

The server runs `python -m warroom.cli serve` on a free loopback port with the example
configuration, a fresh database (SQLite in a temporary folder; also a scratch PostgreSQL
database when WARROOM_TEST_DATABASE_URL is set) and a random bootstrap admin token.
Every wait is bounded: nothing here may hang the suite.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import scratch_postgres_database as shared_scratch_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PG_URL = os.environ.get("WARROOM_TEST_DATABASE_URL")
WARROOM = [sys.executable, "-m", "warroom.cli"]

STARTUP_TIMEOUT = 90.0  # a wait bound, not a speed target: a busy CI machine starts slowly
SHUTDOWN_TIMEOUT = 10.0
CLI_TIMEOUT = 30.0


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    database_url: str
    config: Path
    log: Path
    #: Secrets the server was started with beside its token (the evidence key).
    secrets: tuple[str, ...] = ()
    #: The `warroom serve` process's id.
    pid: int = 0

    def __iter__(self) -> Iterator[str]:
        # `url, token = server` reads naturally in a test.
        return iter((self.url, self.token))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_environ() -> dict[str, str]:
    """The test process's environment without any WARROOM_* setting that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"warroom serve exited with {process.returncode}:\n{_log_tail(log)}",
                    pytrace=False,
                )
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(
        f"warroom serve did not answer /healthz within {STARTUP_TIMEOUT:.0f}s:\n{_log_tail(log)}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(timeout=SHUTDOWN_TIMEOUT)


@contextmanager
def run_server(
    database_url: str, folder: Path, *args: str, config: Path = EXAMPLES
) -> Iterator[Server]:
    """Start `warroom serve ARGS`, wait until it answers, and stop it (for sure) afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(30)  # 40 characters
    evidence_key = secrets.token_urlsafe(32)
    env = _clean_environ() | {
        "WARROOM_DATABASE_URL": database_url,
        "WARROOM_CONFIG": str(config),
        "WARROOM_BOOTSTRAP_TOKEN": token,
        "WARROOM_BASE_URL": url,
        "WARROOM_HOST": "127.0.0.1",
        "WARROOM_PORT": str(port),
        "WARROOM_STATUS_DIR": str(folder / "status"),
        # Every part on: the evidence locker answers 503 without a key.
        "WARROOM_EVIDENCE_KEY": evidence_key,
        "WARROOM_EVIDENCE_DIR": str(folder / "evidence"),
    }
    log = folder / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*WARROOM, "serve", *args],
            env=env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_healthy(url, process, log)
            yield Server(
                url=url,
                token=token,
                database_url=database_url,
                config=config,
                log=log,
                secrets=(evidence_key,),
                pid=process.pid,
            )
        finally:
            _stop(process)


def scratch_postgres_database(admin_url: str) -> AbstractContextManager[str]:
    """A new, empty database for an end-to-end server, dropped at the end."""
    return shared_scratch_database(admin_url, prefix="warroom_e2e")


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server-sqlite")
    with run_server(f"sqlite:///{folder / 'warroom.db'}", folder) as running:
        yield running


@pytest.fixture(scope="session")
def postgresql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not PG_URL:
        pytest.skip("WARROOM_TEST_DATABASE_URL is not set; the PostgreSQL e2e run needs it")
    folder = tmp_path_factory.mktemp("server-postgresql")
    with (
        scratch_postgres_database(PG_URL) as database_url,
        run_server(database_url, folder) as running,
    ):
        yield running


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def server(request: pytest.FixtureRequest) -> Server:
    """A running warroom server: on SQLite always, on PostgreSQL when one is configured."""
    running: Server = request.getfixturevalue(f"{request.param}_server")
    return running


@dataclass
class Cli:
    """Runs `warroom ...` as a subprocess with WARROOM_URL/WARROOM_TOKEN set for `server`."""

    server: Server
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, token: str | None) -> dict[str, str]:
        env = _clean_environ() | {
            "WARROOM_URL": self.server.url,
            # The local commands (token, config, db) act on the server's own database.
            "WARROOM_DATABASE_URL": self.server.database_url,
            "WARROOM_CONFIG": str(self.server.config),
            # Wide enough that Rich does not wrap the tables the tests read.
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
        if token:
            env["WARROOM_TOKEN"] = token
        return env | self.extra_env

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        token: str | None = "",
        timeout: float = CLI_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI; `token=""` means the server's admin token, `None` means no token."""
        return subprocess.run(
            [*WARROOM, *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env(self.server.token if token == "" else token),
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def cli(server: Server) -> Cli:
    """The command line against each database's server (what depends on the database)."""
    return Cli(server)


@pytest.fixture(scope="session")
def cli_sqlite(sqlite_server: Server) -> Cli:
    """The command line against the SQLite server only (what the database cannot change)."""
    return Cli(sqlite_server)
