"""The load generator: closed-loop HTTP/1.1 keep-alive load against a loopback server.

Preferred: `wrk` (C, one thread is plenty here) driven by `wrk_mix.lua`, which builds the
request mix and records nothing; wrk measures the latencies. Fallback when wrk is missing
and cannot be installed: an asyncio generator in this process (raw HTTP/1.1 over
asyncio streams, uvloop when present) with the same mix. Python on a 2-core machine can
become the limit, which is why it is only the fallback; `ingest` shows its cost by
measuring the load generator's CPU next to the server's.

Both stop sending at the end of the window and then wait for every answer still in
flight, so the count of 2xx answers is exact and can be checked against the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import CpuSample, cpu_cores, cpu_sample, note, start, stop

LUA = Path(__file__).with_name("wrk_mix.lua")


@dataclass(frozen=True)
class LoadSpec:
    base_url: str  # http://127.0.0.1:PORT
    mode: str  # pd | am | alerta | get
    connections: int = 32
    window: float = 10.0  # seconds of sending
    key: str = ""
    unique: float = 0.1
    pool: int = 1000
    batch: int = 100
    path: str = "/healthz"
    tag: str = "run"
    timeout: float = 10.0  # an answer slower than this counts as an error


@dataclass
class LoadResult:
    generator: str
    window: float
    requests: int  # answers received
    non2xx: int
    socket_errors: int  # connect/read/write errors and timeouts
    mean_ms: float
    stdev_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wall: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    # fdatasync latency of the disk during the window (DiskProbe): p50, p99, max in ms.
    disk_ms: tuple[float, float, float] | None = None

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def busy_seconds(self) -> float:
        """How long each connection was busy: the sending window plus the residual of the
        request in flight when it closed (E[L²]/2E[L] for a closed loop)."""
        mean = self.mean_ms / 1000
        if mean <= 0:
            return self.window
        residual = (mean**2 + (self.stdev_ms / 1000) ** 2) / (2 * mean)
        return self.window + residual

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return self.ok / self.busy_seconds

    def describe(self) -> str:
        return (
            f"{self.requests} answers ({self.non2xx} non-2xx, {self.socket_errors} socket errors)"
            f" in {self.busy_seconds:.2f} s; latency mean {self.mean_ms:.2f} ms,"
            f" p50 {self.p50_ms:.2f}, p90 {self.p90_ms:.2f}, p99 {self.p99_ms:.2f},"
            f" max {self.max_ms:.2f} ms [{self.generator}]"
        )


# --- wrk ----------------------------------------------------------------------------------


def find_wrk(install: bool = True) -> str | None:
    """wrk's path; installs Debian's package when missing and running as root."""
    path = shutil.which("wrk")
    if path or not install:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        note("wrk is not installed (apt-get install wrk); using the Python load generator")
        return None
    note("wrk is missing: apt-get install -y wrk ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "install", "-y", "-q", "wrk"], ["apt-get", "update", "-q"]):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False)
        if shutil.which("wrk"):
            break
    else:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "wrk"],
                env=env,
                capture_output=True,
                timeout=300,
                check=False,
            )
    path = shutil.which("wrk")
    if path is None:
        note("could not install wrk; using the Python load generator")
    return path


_STAT = re.compile(r"^WRKSTAT (\S+) (\S+)$", re.MULTILINE)


def _cpu_window(
    spec: LoadSpec, groups: dict[str, int], pids: dict[str, int]
) -> tuple[CpuSample, CpuSample]:
    """Two CPU samples inside the sending window (skipping its first and last moments)."""
    lead = min(0.5, spec.window / 4)
    time.sleep(lead)
    before = cpu_sample(groups, pids)
    time.sleep(max(spec.window - lead - 0.3, 0.1))
    return before, cpu_sample(groups, pids)


def run_wrk(
    wrk: str, spec: LoadSpec, logdir: Path, groups: dict[str, int]
) -> tuple[LoadResult, dict[str, float]]:
    # The tail lets answers in flight at the end of the window arrive; it stays under
    # uvicorn's 5 s keep-alive timeout so that idle connections are not closed on us.
    tail = min(max(1.5, spec.timeout / 4), 4.0)
    duration = max(1, round(spec.window + tail + 0.5))
    argv = [
        wrk,
        "-t1",
        f"-c{spec.connections}",
        f"-d{duration}s",
        f"--timeout={max(spec.timeout, duration + 1):.0f}s",
        "--latency",
        "-s",
        str(LUA),
        spec.base_url + (spec.path if spec.mode == "get" else "/"),
        "--",
        spec.mode,
        f"{spec.window}",
        spec.key or "-",
        f"{spec.unique}",
        str(spec.pool),
        spec.tag,
        str(spec.batch),
        spec.path,
    ]
    assert spec.base_url.startswith("http://127.0.0.1:"), "loopback targets only"
    log = logdir / f"wrk-{spec.mode}-{spec.tag}.log"
    started = time.monotonic()
    child = start("wrk", argv, env=dict(os.environ), log=log)
    try:
        before, after = _cpu_window(spec, groups, {"loadgen": child.pid})
        child.proc.wait(timeout=duration + 60)
    finally:
        stop(child)
    wall = time.monotonic() - started
    output = log.read_text(errors="replace")
    stats = {m.group(1): float(m.group(2)) for m in _STAT.finditer(output)}
    if child.proc.returncode != 0 or "requests" not in stats:
        raise RuntimeError(f"wrk failed ({child.proc.returncode}): {output.strip()[-500:]}")
    # wrk counts an answer slower than --timeout as a timeout and leaves it out of the
    # latency histogram; with --timeout longer than the run there are none of those.
    sockets = sum(int(stats[k]) for k in ("err_connect", "err_read", "err_write", "err_timeout"))
    result = LoadResult(
        generator="wrk",
        window=spec.window,
        requests=int(stats["requests"]),
        non2xx=int(stats["err_status"]),
        socket_errors=sockets,
        mean_ms=stats["lat_mean"] / 1000,
        stdev_ms=stats["lat_stdev"] / 1000,
        p50_ms=stats["lat_p50"] / 1000,
        p90_ms=stats["lat_p90"] / 1000,
        p99_ms=stats["lat_p99"] / 1000,
        max_ms=stats["lat_max"] / 1000,
        wall=wall,
    )
    return result, cpu_cores(before, after)


# --- Python fallback ----------------------------------------------------------------------


def pd_trigger(routing_key: str, dedup_key: str) -> dict[str, object]:
    """The PagerDuty Events v2 trigger every ingest benchmark sends (PagerDuty's own sample)."""
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": f"DISK at 99% on {dedup_key}",
            "source": dedup_key,
            "severity": "critical",
            "timestamp": "2024-03-15T09:30:00.000+0000",
            "component": "mysql",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
        },
        "client": "warroom bench",
        "client_url": "https://monitoring.example.com",
    }


class _Mix:
    """The same request mix as wrk_mix.lua."""

    def __init__(self, spec: LoadSpec, seed: int) -> None:
        self.spec = spec
        self.random = random.Random(seed)
        self.counter = 0
        host = spec.base_url.removeprefix("http://")
        self.head = f"Host: {host}\r\nContent-Type: application/json\r\n"
        if spec.mode == "am":
            self.head += f"Authorization: Bearer {spec.key}\r\n"

    def pick(self, prefix: str) -> str:
        self.counter += 1
        if self.random.random() < self.spec.unique:
            return f"{prefix}-u-{self.spec.tag}-py-{self.counter}"
        return f"{prefix}-p-{self.random.randint(1, self.spec.pool)}"

    def request(self) -> bytes:
        spec = self.spec
        if spec.mode == "get":
            return f"GET {spec.path} HTTP/1.1\r\n{self.head}\r\n".encode()
        if spec.mode == "pd":
            k = self.pick("pd")
            body = pd_trigger(spec.key, k)
            path = "/v2/enqueue"
        elif spec.mode == "am":
            alerts = []
            for _ in range(spec.batch):
                fp = self.pick("am")
                alerts.append(
                    {
                        "status": "firing",
                        "labels": {
                            "alertname": "HighErrorRate",
                            "instance": f"{fp}:9100",
                            "job": "node",
                            "severity": "critical",
                        },
                        "annotations": {"summary": f"Error rate above 10% on {fp}"},
                        "startsAt": "2024-03-15T09:30:00Z",
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=x",
                        "fingerprint": fp,
                    }
                )
            body = {
                "version": "4",
                "groupKey": '{}:{alertname="HighErrorRate"}',
                "status": "firing",
                "receiver": "warroom",
                "groupLabels": {"alertname": "HighErrorRate"},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.example.com:9093",
                "alerts": alerts,
            }
            path = "/api/v1/integrations/alertmanager"
        else:
            r = self.pick("host")
            body = {
                "resource": r,
                "event": "HttpServerError",
                "environment": "Production",
                "severity": "major",
                "service": ["payment-service"],
                "group": "Web",
                "value": "503",
                "text": f"DISK at 99% on {r}",
                "tags": ["bench"],
                "origin": "warroom-bench",
                "type": "exceptionAlert",
            }
            path = "/alert"
        data = json.dumps(body).encode()
        head = f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n\r\n"
        return head.encode() + data


async def _connection(
    spec: LoadSpec, mix: _Mix, deadline: float, latencies: list[float], result: LoadResult
) -> None:
    host, _, port = spec.base_url.removeprefix("http://").partition(":")
    reader = writer = None
    while time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, int(port))
            assert reader is not None
            t0 = time.perf_counter()
            writer.write(mix.request())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), spec.timeout)
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    length = int(value)
                elif lname == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await asyncio.wait_for(reader.readexactly(length), spec.timeout)
            latencies.append((time.perf_counter() - t0) * 1000)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if not 200 <= status < 300:
                result.non2xx += 1
            if close:
                writer.close()
                reader = writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            result.socket_errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


def run_python(spec: LoadSpec, groups: dict[str, int]) -> tuple[LoadResult, dict[str, float]]:
    assert spec.base_url.startswith("http://127.0.0.1:"), "loopback targets only"
    result = LoadResult("python-asyncio", spec.window, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    latencies: list[float] = []
    samples: list[tuple[CpuSample, CpuSample]] = []
    sampler = threading.Thread(
        target=lambda: samples.append(_cpu_window(spec, groups, {"loadgen": os.getpid()})),
        daemon=True,
    )
    sampler.start()

    async def main() -> None:
        deadline = time.monotonic() + spec.window
        mixes = [_Mix(spec, i) for i in range(spec.connections)]
        await asyncio.gather(*(_connection(spec, m, deadline, latencies, result) for m in mixes))

    started = time.monotonic()
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    result.wall = time.monotonic() - started
    if latencies:
        latencies.sort()
        n = len(latencies)
        mean = sum(latencies) / n
        result.mean_ms = mean
        result.stdev_ms = (sum((x - mean) ** 2 for x in latencies) / n) ** 0.5
        result.p50_ms = latencies[min(n - 1, int(n * 0.50))]
        result.p90_ms = latencies[min(n - 1, int(n * 0.90))]
        result.p99_ms = latencies[min(n - 1, int(n * 0.99))]
        result.max_ms = latencies[-1]
    sampler.join(timeout=5)
    return result, (cpu_cores(*samples[0]) if samples else {})


# --- the disk ----------------------------------------------------------------------------


class DiskProbe:
    """Writes 8 KB and `fdatasync`s it every 20 ms in a thread, on the filesystem of `folder`,
    and keeps the latencies: a commit waits for the same kind of flush, so a slow disk shows
    here as it shows in the tail of a load. It costs next to no CPU."""

    PERIOD = 0.02

    def __init__(self, folder: Path) -> None:
        self._path = folder / f"disk-probe-{os.getpid()}.bin"
        self._stop = threading.Event()
        self._latencies: list[float] = []
        self._thread = threading.Thread(target=self._run, name="disk-probe", daemon=True)

    def __enter__(self) -> DiskProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._path.unlink(missing_ok=True)

    def _run(self) -> None:
        block = os.urandom(8192)
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while not self._stop.wait(self.PERIOD):
                started = time.perf_counter()
                os.pwrite(fd, block, 0)
                os.fdatasync(fd)
                self._latencies.append((time.perf_counter() - started) * 1000)
        finally:
            os.close(fd)

    def summary(self) -> tuple[float, float, float] | None:
        values = sorted(self._latencies)
        if not values:
            return None
        at = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
        return at(0.5), at(0.99), values[-1]


# --- entry --------------------------------------------------------------------------------


class LoadGenerator:
    """Runs a LoadSpec with wrk when available (or forced), else with the Python fallback.

    `run` also returns the average cores used during the window by each process group in
    `groups` (name → pgid), by the load generator ("loadgen") and by PostgreSQL, and records
    the disk's flush latency during the window in `LoadResult.disk_ms`. Each window starts
    after `sync`."""

    def __init__(self, logdir: Path, prefer: str = "wrk") -> None:
        self.wrk = find_wrk() if prefer == "wrk" else None
        self.logdir = logdir

    @property
    def name(self) -> str:
        return "wrk" if self.wrk else "python-asyncio"

    def run(
        self, spec: LoadSpec, groups: dict[str, int] | None = None
    ) -> tuple[LoadResult, dict[str, float]]:
        # Start every window with the disk flushed: what earlier windows and configurations
        # left in the page cache (a SQLite file, a dropped database) would otherwise be
        # written out during this one and stall its commits.
        os.sync()
        with DiskProbe(self.logdir) as probe:
            if self.wrk:
                result, cores = run_wrk(self.wrk, spec, self.logdir, groups or {})
            else:
                result, cores = run_python(spec, groups or {})
        result.disk_ms = probe.summary()
        return result, cores
