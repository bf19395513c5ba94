"""Real monitoring tools around a real warroom server, for the end-to-end tests.

Each process (warroom, Prometheus Alertmanager, Prometheus) runs in its own process group
with its own folder under the test's temporary directory, logs into a file there, listens
on a free loopback port, and is stopped by its PID when the `with` block ends — whether the
test passed or not. Every wait is bounded; a wait that runs out fails the test with the
tail of each process's log.

The exporter is a `ThreadingHTTPServer` in the test process serving `/metrics` in the
Prometheus text format, with gauges the test sets.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.1
LOG_LINES = 30
# A port picked free can be taken by someone else before the process binds it.
START_ATTEMPTS = 3

T = TypeVar("T")


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_binary(name: str, package: str) -> str:
    """The path of an installed program, or skip the test (CI turns skips into failures)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
    if found is None:
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return found


# The access-log lines of the test's own polling: they would fill every tail.
_POLLING = re.compile(r'"GET [^"]*" 200\b')


def log_tail(path: Path, lines: int = LOG_LINES) -> str:
    """The last lines of a log, without the access-log lines of successful GETs."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join([line for line in text.splitlines() if not _POLLING.search(line)][-lines:])


@dataclass(frozen=True)
class Service:
    """A process started by a test: where it answers and where it logs."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = LOG_LINES) -> str:
        state = "running" if self.process.poll() is None else f"exited {self.process.returncode}"
        return f"--- {self.name} (pid {self.process.pid}, {state}), {self.log} ---\n" + log_tail(
            self.log, lines
        )


def tails(services: Sequence[Service]) -> str:
    return "\n".join(s.tail() for s in services)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group the test started, SIGKILL if it lingers; always reaped."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)


Launch = Callable[[int], tuple[list[str], Mapping[str, str] | None]]


def _wait_ready(service: Service, path: str, timeout: float) -> str:
    """'ready', 'port-taken', 'exited' or 'timeout'."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                text = log_tail(service.log, 200).lower()
                return "port-taken" if "address already in use" in text else "exited"
            try:
                if client.get(service.url + path).status_code == 200:
                    return "ready"
            except httpx.TransportError:
                pass
            time.sleep(POLL_SECONDS)
    return "timeout"


@contextmanager
def running(
    name: str, folder: Path, launch: Launch, *, ready_path: str, timeout: float = STARTUP_TIMEOUT
) -> Iterator[Service]:
    """Start `launch(port)` in `folder`, wait until `ready_path` answers 200, stop it after."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        argv, env = launch(port)
        with log.open("ab") as log_file:
            log_file.write(f"### {' '.join(argv)}\n".encode())
            log_file.flush()
            process = subprocess.Popen(
                argv,
                cwd=folder,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        service = Service(name, f"http://127.0.0.1:{port}", process, log)
        try:
            outcome = _wait_ready(service, ready_path, timeout)
            if outcome == "port-taken" and attempt < START_ATTEMPTS:
                continue
            if outcome != "ready":
                why = "exited" if outcome != "timeout" else f"did not answer within {timeout:.0f}s"
                pytest.fail(
                    f"{name} did not start ({ready_path}: {why})\n{service.tail()}", pytrace=False
                )
            yield service
            return
        finally:
            stop(process)


def clean_environ() -> dict[str, str]:
    """This process's environment without any WARROOM_* setting that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}


# --- waiting ------------------------------------------------------------------------------


def wait_for(
    what: str,
    fetch: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float,
    services: Sequence[Service] = (),
) -> T:
    """Poll `fetch` until `until` holds for what it returned; fail after `timeout` seconds
    with the last value seen and the logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value):
            return value
        dead = [s for s in services if s.process.poll() is not None]
        if dead or time.monotonic() >= deadline:
            reason = f"{dead[0].name} exited" if dead else f"not within {timeout:.0f}s"
            pytest.fail(
                f"waiting for {what}: {reason}; last seen:\n{_show(value)}\n{tails(services)}",
                pytrace=False,
            )
        time.sleep(POLL_SECONDS)


def holds_for(
    what: str,
    seconds: float,
    fetch: Callable[[], T],
    check: Callable[[T], bool],
    *,
    services: Sequence[Service] = (),
) -> T:
    """Poll `fetch` for `seconds`; fail as soon as `check` does not hold."""
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if not check(value):
            pytest.fail(
                f"{what} no longer holds:\n{_show(value)}\n{tails(services)}", pytrace=False
            )
        if time.monotonic() >= deadline:
            return value
        time.sleep(POLL_SECONDS)


def _show(value: Any) -> str:
    try:
        return json.dumps(value, indent=1, default=str)[:4000]
    except (TypeError, ValueError):
        return repr(value)[:4000]


@contextmanager
def logs_on_failure(*services: Service) -> Iterator[None]:
    """A failed assertion inside the block carries the processes' log tails."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n\n{tails(services)}") from exc


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- warroom ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Warroom:
    service: Service
    token: str
    database: Path
    config: Path

    @property
    def url(self) -> str:
        return self.service.url

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10.0,
        )


@contextmanager
def warroom(folder: Path, extra_config: str | None = None) -> Iterator[Warroom]:
    """`warroom serve` (API and engine) on SQLite, configured with a copy of the examples
    (`examples/*.yaml`, not the subfolders) plus `extra_config` as `e2e-rules.yaml`, which
    comes last in name order, so its rules are tried after the examples' ones."""
    config = folder / "config"
    config.mkdir(parents=True)
    for source in sorted(EXAMPLES.glob("*.yaml")):
        shutil.copy(source, config / source.name)
    if extra_config is not None:
        (config / "e2e-rules.yaml").write_text(extra_config)
    database = folder / "warroom.db"
    token = secrets.token_urlsafe(30)

    def launch(port: int) -> tuple[list[str], Mapping[str, str]]:
        env = clean_environ() | {
            "WARROOM_DATABASE_URL": f"sqlite:///{database}",
            "WARROOM_CONFIG": str(config),
            "WARROOM_BOOTSTRAP_TOKEN": token,
            "WARROOM_BASE_URL": f"http://127.0.0.1:{port}",
            "WARROOM_HOST": "127.0.0.1",
            "WARROOM_PORT": str(port),
        }
        return [sys.executable, "-m", "warroom.cli", "serve"], env

    with running("warroom", folder, launch, ready_path="/healthz") as service:
        yield Warroom(service, token, database, config)


def checked(response: httpx.Response, *expected: int) -> Any:
    """The JSON of a response whose status is one of `expected` (200 when none given)."""
    allowed = expected or (200,)
    assert response.status_code in allowed, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text[:2000]}"
    )
    return response.json() if response.content else None


# --- Prometheus Alertmanager ---------------------------------------------------------------


@contextmanager
def alertmanager(folder: Path, webhook_url: str, bearer: str | None = None) -> Iterator[Service]:
    """Alertmanager without clustering, routing every alert (grouped by alertname) to one
    webhook receiver (sending `bearer` as its token, when given), with resolved
    notifications and one-second group timers."""
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    folder.mkdir(parents=True, exist_ok=True)
    webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": True}
    if bearer is not None:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer}}
    config = folder / "am.yml"
    # JSON is YAML: no quoting question about the URL or the token.
    config.write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "warroom",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "warroom", "webhook_configs": [webhook]}],
            },
            indent=2,
        )
    )

    def launch(port: int) -> tuple[list[str], None]:
        return [
            binary,
            f"--config.file={config}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # empty: no gossip, no cluster port
        ], None

    with running("alertmanager", folder, launch, ready_path="/-/ready") as service:
        yield service


# --- Prometheus and a tiny exporter ------------------------------------------------------


QUERY_LOG = "queries.log"


@contextmanager
def prometheus(folder: Path, targets: Sequence[str]) -> Iterator[Service]:
    """Prometheus scraping `targets` (host:port) every second, logging every query it
    answers into `queries.log` beside its log (see `queries`)."""
    binary = require_binary("prometheus", "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prom.yml"
    config.write_text(
        json.dumps(
            {
                "global": {
                    "scrape_interval": "1s",
                    "evaluation_interval": "1s",
                    "query_log_file": str(folder / QUERY_LOG),
                },
                "scrape_configs": [
                    {"job_name": "warroom-e2e", "static_configs": [{"targets": list(targets)}]}
                ],
            },
            indent=2,
        )
    )

    def launch(port: int) -> tuple[list[str], None]:
        return [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ], None

    with running("prometheus", folder, launch, ready_path="/-/ready") as service:
        yield service


def queries(prometheus: Service, expr: str) -> int:
    """How many times Prometheus has answered the query `expr` (from its query log)."""
    try:
        lines = (prometheus.log.parent / QUERY_LOG).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return 0
    count = 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line being written
        if isinstance(entry, dict) and entry.get("params", {}).get("query") == expr:
            count += 1
    return count


def instant_query(prometheus: Service, expr: str) -> list[dict[str, Any]]:
    """The series of an instant query, straight from Prometheus."""
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5.0)
    body = response.json()
    assert body.get("status") == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exporter:
    """`/metrics` with gauges the test sets, on 127.0.0.1 (a port of its own choosing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.scrapes = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = value

    def render(self) -> str:
        with self._lock:
            gauges = sorted(self._gauges.items())
        lines: list[str] = []
        typed: set[str] = set()
        for (name, labels), value in gauges:
            if name not in typed:
                typed.add(name)
                lines.append(f"# TYPE {name} gauge")
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{name}{{{inner}}} {value!r}" if inner else f"{name} {value!r}")
        return "\n".join(lines) + "\n"

    @property
    def target(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                with exporter._lock:
                    exporter.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per scrape would only drown the test output

        return Handler

    def __enter__(self) -> Exporter:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="e2e-exporter",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)


def now() -> datetime:
    return datetime.now(UTC)
