"""Alert → first page handed to the provider, alone and during a storm (PostgreSQL).

A real `warroom serve` (API + engine) runs with a small configuration: critical alerts of
one service declare a SEV1 incident (grouping off, so every alert is its own incident),
and the service's policy pages one person whose contact method is a signed webhook to a
receiver in this process. Latency runs from sending `POST /v2/enqueue` to the receiver
getting the page. Measured alone (one alert at a time), then while 10,000 other alerts
(warnings: recorded and routed, never declared) are posted at concurrency 32.

Prints `bench page_first_alone_p50 …`, `…_p99`, `bench page_first_storm_p50 …`, `…_p99`,
and the storm's own ingest rate; then the same again, each name ending `_engine_process`,
with `serve --engine-process` (the engine in a child process, sharing no interpreter lock
with the API). Before both, in the same run, the same storm goes to a server on a fresh
database with the engine off (`WARROOM_ENGINE=false`): ingest alone.
`page_storm_ingest_vs_alone_ratio` (and `…_engine_process`) divides the storm's ingest
rate with the engine by that one: how much the engine's work (routing, timers) takes
away from the senders.

Both storm rates are the storm's alerts divided by the span of their stored `first_seen`
times (the writer's clock as each batch is written): exact to the batch, where timing the
storm by polling the alert count every 100 ms was good to ±5 % of a 2-second storm, and
the ratio of two such figures to ±10 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import (
    BusyWatch,
    Child,
    emit,
    free_port,
    http,
    note,
    pg_url,
    scratch_db,
    setup_timer,
    start,
    stop,
    wait_ready,
)
from warroom.testing.providers import FakeWebhookReceiver
from warroom.testing.recording import RecordedRequest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-webhook-secret"  # a local benchmark's own credential


SERVICES = 400


def _config(folder: Path, hook_url: str) -> None:
    # One service per measured alert: a rule that already has an open incident for a
    # service adds to it instead of declaring (and paging) again.
    services = "\n".join(
        f"  - {{name: bench-svc-{i}, escalation_policy: bench-policy}}" for i in range(SERVICES)
    )
    (folder / "bench.yaml").write_text(
        f"""
users:
  - handle: pager
    name: Bench Pager
    contact_methods:
      - {{type: webhook, address: "{hook_url}"}}
    notification_rules:
      - {{after: 0, method: webhook}}
services:
{services}
escalation_policies:
  - name: bench-policy
    steps:
      - delay: 10 minutes
        targets: [{{type: user, name: pager}}]
auto_declare:
  - name: bench-critical
    when:
      alert:
        - {{field: severity, equals: critical}}
    declare: {{severity: SEV1, service_from: details.service, title: "{{summary}}"}}
alert_grouping:
  by_key: false
  by_alertmanager_group: false
  by_service: false
"""
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class TimedReceiver(FakeWebhookReceiver):
    """The webhook fake, noting when each request arrived."""

    def __init__(self, **kwargs: Any) -> None:
        self.arrivals: list[tuple[float, bytes]] = []
        super().__init__(**kwargs)

    def _route(self, request: RecordedRequest) -> Any:
        self.arrivals.append((time.time(), request.body))
        return super()._route(request)


class PageClock:
    """Maps a page's marker (the alert summary) to when the receiver got it."""

    def __init__(self, receiver: TimedReceiver) -> None:
        self._receiver = receiver
        self._seen = 0
        self.arrived: dict[str, float] = {}

    def poll(self) -> None:
        arrivals = list(self._receiver.arrivals)
        for at, body in arrivals[self._seen :]:
            text = body.decode(errors="replace")
            marker = text.find("bench-page-")
            if marker >= 0:
                token = text[marker : marker + len("bench-page-") + 12]
                self.arrived.setdefault(token, at)
        self._seen = len(arrivals)


_next_service = iter(range(SERVICES))


async def _measure(
    client: httpx.AsyncClient, url: str, key: str, clock: PageClock, count: int, gap: float
) -> list[float]:
    latencies: list[float] = []
    for _ in range(count):
        service = next(_next_service, None)
        if service is None:
            break
        token = f"bench-page-{secrets.token_hex(6)}"
        sent = time.time()
        response = await client.post(
            f"{url}/v2/enqueue",
            json={
                "routing_key": key,
                "event_action": "trigger",
                "dedup_key": token,
                "payload": {
                    "summary": token,
                    "source": "bench",
                    "severity": "critical",
                    "custom_details": {"service": f"bench-svc-{service}"},
                },
            },
        )
        if response.status_code != 202:
            note(f"paging: measured alert refused: {response.status_code} {response.text[:200]}")
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            clock.poll()
            if token in clock.arrived:
                latencies.append((clock.arrived[token] - sent) * 1000)
                break
            await asyncio.sleep(0.002)
        await asyncio.sleep(gap)
    return latencies


async def _storm(url: str, key: str, tag: str, total: int, seconds: float) -> None:
    """Post `total` warning alerts with wrk (two threads, 32 connections), their dedup keys
    starting `storm-<tag>-`."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    script = Path(__file__).with_name("wrk_storm.lua")
    process = await asyncio.create_subprocess_exec(
        wrk, "-t2", "-c32", f"-d{seconds:.0f}s", "-s", str(script), url, "--",
        key, tag, str(total // 2),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if "Non-2xx" in text:
        note(f"paging: storm had refusals:\n{text}")


def _stored_rate(database: str, tag: str, polled: float) -> float:
    """The storm's ingest rate from the database: its alerts over the span of their
    `first_seen` (the first batch's time to the last's), printed beside the rate that
    polling the count gave."""
    with psycopg.connect(pg_url(database)) as conn:
        row = conn.execute(
            "SELECT count(*), min(first_seen), max(first_seen) FROM alerts WHERE dedup_key LIKE %s",
            (f"storm-{tag}-%",),
        ).fetchone()
    assert row is not None  # an aggregate query always has its row
    count, first, last = row
    span = (last - first).total_seconds() if count > 1 else float("nan")
    rate = (count - 1) / span if span > 0 else float("nan")
    note(
        f"paging: {count:,} storm alerts stored over {span:.3f} s: {rate:,.0f} alerts/s "
        f"(polling the count: {polled:,.0f}/s)"
    )
    return rate


async def _count(client: httpx.AsyncClient, url: str, token: str) -> int | None:
    response = await client.get(
        f"{url}/api/v1/alerts", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}
    )
    return int(response.json()["total"]) if response.status_code == 200 else None


async def _storm_done(
    client: httpx.AsyncClient, url: str, token: str, total: int, storm: asyncio.Task[Any]
) -> tuple[int, float]:
    """(alerts the server holds, seconds until it held them): until it holds `total`, or
    the storm has ended and the count has not moved for a second (wrk may send a request
    or two fewer than asked)."""
    started = time.monotonic()
    last, moved = -1, started
    while time.monotonic() - started < 120:
        count = await _count(client, url, token)
        now = time.monotonic()
        if count is not None and count != last:
            last, moved = count, now
        if last >= total or (storm.done() and now - moved > 1.0):
            return last, moved - started
        await asyncio.sleep(0.1)
    return last, float("nan")


async def _run(
    url: str,
    key: str,
    token: str,
    clock: PageClock,
    storm: int,
    watch: BusyWatch,
    database: str,
    suffix: str = "",
) -> float:
    """Measure pages alone, then during the storm; return the storm's ingest rate."""
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    tag = secrets.token_hex(4)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        alone = await _measure(client, url, key, clock, count=40, gap=0.05)
        before = await _count(client, url, token) or 0
        storm_task = asyncio.create_task(_storm(url, key, tag, storm, seconds=20))
        counted = asyncio.create_task(_storm_done(client, url, token, storm + before, storm_task))
        during: list[float] = []
        while not counted.done():
            during += await _measure(client, url, key, clock, count=5, gap=0.1)
        held, elapsed = await counted
        polled = (held - before) / elapsed  # (the few measured alerts during it count too)
        await storm_task
    watch.result()
    rate = _stored_rate(database, tag, polled)
    for label, values in (("alone", alone), ("storm", during)):
        name = f"page_first_{label}{suffix}"
        if not values:
            emit(f"{name}_p99", float("nan"), "ms")
            continue
        emit(f"{name}_count", len(values), "pages")
        emit(f"{name}_p50", round(statistics.median(values), 1), "ms")
        emit(f"{name}_p99", round(_percentile(values, 0.99), 1), "ms")
    emit(f"page_storm_ingest_throughput{suffix}", rate, "alerts/s")
    return rate


async def _ingest_alone(
    url: str, key: str, token: str, storm: int, watch: BusyWatch, database: str
) -> float:
    """The same storm against a server with the engine off; its ingest rate."""
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    tag = secrets.token_hex(4)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        storm_task = asyncio.create_task(_storm(url, key, tag, storm, seconds=20))
        held, elapsed = await _storm_done(client, url, token, storm, storm_task)
        await storm_task
    watch.result()
    rate = _stored_rate(database, tag, held / elapsed)
    emit("page_storm_ingest_alone_throughput", rate, "alerts/s")
    return rate


def _engine_running(database: str, timeout: float = 60.0) -> None:
    """Wait until an engine has made its first pass (its row in `engine_beats`): with
    `--engine-process` the server answers before its child engine has started, and the
    first measured pages would wait for that."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(pg_url(database), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM engine_beats").fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.05)
    raise RuntimeError(f"no engine made a pass within {timeout:.0f} s")


@contextlib.contextmanager
def _server(
    logdir: Path,
    config: Path,
    receiver: TimedReceiver,
    *,
    engine: bool,
    label: str,
    args: tuple[str, ...] = (),
) -> Iterator[tuple[str, str, str, Child, str]]:
    """A `warroom serve ARGS` on a fresh database: (URL, integration key, token, child, db)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_urlsafe(30)
    with scratch_db() as name:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
            "WARROOM_DATABASE_URL": pg_url(name, "postgresql+psycopg"),
            "WARROOM_CONFIG": str(config),
            "WARROOM_BOOTSTRAP_TOKEN": token,
            "WARROOM_WEBHOOK_SECRET": SECRET,
            "WARROOM_PORT": str(port),
            "WARROOM_ENGINE": "true" if engine else "false",
        }
        child: Child | None = None
        try:
            with setup_timer(label):
                child = start(
                    f"warroom-{label}",
                    [sys.executable, "-m", "warroom.cli", "serve", "--port", str(port), *args],
                    env=env,
                    log=logdir / f"{label}-server.log",
                )
                wait_ready(child, f"{url}/healthz")
                status, body = http(
                    "POST",
                    f"{url}/api/v1/integrations",
                    json.dumps(
                        {"name": "bench", "type": "pagerduty", "service": "bench-svc-0"}
                    ).encode(),
                    {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                if status != 201:
                    raise RuntimeError(f"integration: {status} {body[:200]!r}")
                if engine:
                    _engine_running(name)
            yield url, json.loads(body)["key"], token, child, name
        finally:
            if child is not None:
                stop(child)


def run(logdir: Path, storm: int = 10_000) -> None:
    """Ingest alone (engine off), then pages alone and during the storm with the engine in
    the server's process (the default), then the same with `serve --engine-process`, in
    one run on three fresh databases; the ratios of the storm ingest rates."""
    config = logdir / "paging-config"
    config.mkdir(parents=True, exist_ok=True)
    with TimedReceiver(secret=SECRET, lifetime=600) as receiver:
        _config(config, receiver.url)
        with _server(logdir, config, receiver, engine=False, label="paging_alone") as (
            url, key, token, child, name,
        ):  # fmt: skip
            note(f"paging: a storm of {storm:,} alerts with the engine off (ingest alone)")
            watch = BusyWatch("page_storm_ingest_alone", pgids=[child.pid], databases=[name])
            alone = asyncio.run(_ingest_alone(url, key, token, storm, watch.start(), name))
        rates: dict[str, tuple[str, float]] = {}
        for suffix, args, where in (
            ("", (), "in the server's process"),
            ("_engine_process", ("--engine-process",), "in a child process"),
        ):
            label = f"paging{suffix}"
            with _server(logdir, config, receiver, engine=True, label=label, args=args) as (
                url, key, token, child, name,
            ):  # fmt: skip
                note(
                    f"paging: alert → first page, alone and during a storm of {storm:,} "
                    f"alerts, the engine {where}"
                )
                # The engine's child process is in the server's process group.
                watch = BusyWatch(f"page_first{suffix}", pgids=[child.pid], databases=[name])
                rate = asyncio.run(
                    _run(url, key, token, PageClock(receiver), storm, watch.start(), name, suffix)
                )
                rates[suffix] = (where, rate)
    for suffix, (where, rate) in rates.items():
        ratio = rate / alone if alone > 0 else float("nan")
        note(
            f"paging: storm ingest with the engine {where} is {ratio:.0%} of ingest alone "
            "(target >= 50%)"
        )
        emit(f"page_storm_ingest_vs_alone_ratio{suffix}", ratio, "x")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder))
