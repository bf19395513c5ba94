"""Plumbing shared by the benchmarks: output lines, child processes, scratch databases, CPU.

Every process a benchmark starts runs in its own process group and is registered here, so
that it is stopped (SIGTERM to the group, then SIGKILL) when its benchmark ends, and again
at exit whatever happened. Scratch databases are registered the same way and dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "WARROOM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# --- output -----------------------------------------------------------------------------


def emit(name: str, value: float | int, unit: str) -> None:
    """One result line on stdout: `bench <name> <value> <unit>`."""
    if isinstance(value, float) and math.isnan(value):
        text = "nan"
    elif isinstance(value, int):
        text = str(value)
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    print(f"bench {name} {text} {unit}", flush=True)


def note(message: str) -> None:
    """Human commentary on stderr (never parsed)."""
    print(message, file=sys.stderr, flush=True)


# --- processes --------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


_children: list[Child] = []


def start(
    name: str, argv: Sequence[str], *, env: dict[str, str], log: Path, cwd: Path | None = None
) -> Child:
    """Start a process in a new session (its own process group), output to `log`."""
    handle = log.open("wb")
    try:
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        handle.close()
    child = Child(name, proc, log)
    _children.append(child)
    return child


def stop(child: Child, grace: float = 10.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    if child in _children:
        _children.remove(child)
    pgid = child.proc.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.proc.wait(timeout=grace)
    # Workers may outlive the leader for a moment; make sure the whole group is gone.
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all() -> None:
    for child in list(_children):
        stop(child, grace=5.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """A tiny blocking HTTP client for setup steps (loopback only)."""
    assert url.startswith(("http://127.0.0.1:", "http://localhost:")), url
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def wait_ready(child: Child, url: str, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 2xx; raise with the child's log tail if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        with contextlib.suppress(OSError):
            status, _ = http("GET", url, timeout=2.0)
            if 200 <= status < 300:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} not ready after {timeout:.0f} s:\n{child.tail()}")


# --- CPU accounting from /proc ----------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(comm, pgid, cpu seconds) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15.
    return comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK


@dataclass
class CpuSample:
    at: float
    by_group: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0  # busy CPU seconds of the whole machine (all processes)


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq steal ...
    values = [int(v) for v in first[1:9]]
    return (sum(values) - values[3] - values[4]) / _TICK


def cpu_sample(
    groups: dict[str, int],
    pids: dict[str, int] | None = None,
    extra_comm: Sequence[str] = ("postgres",),
) -> CpuSample:
    """CPU seconds used so far by each named process group, each named single process, and
    processes named in `extra_comm` (e.g. all PostgreSQL backends), over live processes."""
    sample = CpuSample(time.monotonic(), machine=_machine_busy())
    wanted = {pgid: name for name, pgid in groups.items()}
    single = {pid: name for name, pid in (pids or {}).items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        info = _stat(int(entry))
        if info is None:
            continue
        comm, pgid, seconds = info
        name = single.get(int(entry)) or wanted.get(pgid)
        if name is None and comm in extra_comm:
            name = comm
        if name is not None:
            sample.by_group[name] = sample.by_group.get(name, 0.0) + seconds
    return sample


def cpu_cores(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Average cores used per group between two samples (processes that exited between the
    samples are not counted; the groups measured here live through the window)."""
    span = max(after.at - before.at, 1e-9)
    cores = {
        name: max(after.by_group.get(name, 0.0) - before.by_group.get(name, 0.0), 0.0) / span
        for name in after.by_group
    }
    if after.machine > 0:
        # Everything else on the machine (other people's work, the benchmark's own
        # bookkeeping): more than a little of it makes the figures unreliable.
        busy = max(after.machine - before.machine, 0.0) / span
        cores["other"] = max(busy - sum(cores.values()), 0.0)
    return cores


def format_cores(cores: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in sorted(cores.items()))


# --- scratch PostgreSQL databases --------------------------------------------------------

_databases: list[str] = []


def _pg_admin() -> Any:
    import psycopg

    url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def pg_available() -> str | None:
    """None if the PostgreSQL server answers, else why not."""
    try:
        with _pg_admin() as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()


def pg_url(database: str, scheme: str = "postgresql") -> str:
    base = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    head, _, _ = base.rpartition("/")
    return scheme + head[len("postgresql") :] + "/" + database


def create_scratch_db(prefix: str = "warroom_bench") -> str:
    name = f"{prefix}_{secrets.token_hex(5)}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _databases.append(name)
    return name


def drop_scratch_db(name: str) -> None:
    if name in _databases:
        _databases.remove(name)
    try:
        with _pg_admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    except Exception as exc:
        note(f"could not drop scratch database {name}: {exc}")


@contextlib.contextmanager
def scratch_db(prefix: str = "warroom_bench") -> Iterator[str]:
    name = create_scratch_db(prefix)
    try:
        yield name
    finally:
        drop_scratch_db(name)


def drop_all_dbs() -> None:
    for name in list(_databases):
        drop_scratch_db(name)


def cleanup() -> None:
    stop_all()
    drop_all_dbs()


atexit.register(cleanup)


def _on_signal(signum: int, _frame: Any) -> None:
    cleanup()
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


# --- set-up time and a busy machine -----------------------------------------------------


@contextlib.contextmanager
def setup_timer(label: str) -> Iterator[None]:
    """Time a benchmark's set-up (everything before its measured part) and say so on
    stderr as `setup: <label> <seconds> s`, so that a slow set-up is seen, not measured."""
    started = time.monotonic()
    try:
        yield
    finally:
        note(f"setup: {label} {time.monotonic() - started:.1f} s")


#: Cores that processes outside the benchmark may use before its figures are flagged.
BUSY_OTHER_CORES = 0.3
#: Share of CPU time the hypervisor may steal before the figures are flagged.
BUSY_STEAL = 0.05
_busy_labels: list[str] = []


def _cpu_times() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine since boot."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0, 0.0, 0.0
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    total = sum(values)
    return (total - values[3] - values[4] - values[7]) / _TICK, values[7] / _TICK, total / _TICK


def _pg_backends(databases: Sequence[str]) -> tuple[set[int], set[int]]:
    """PostgreSQL server processes: (serving one of `databases` or no database, the
    background workers), and (serving any other database: someone else's work)."""
    ours: set[int] = set()
    theirs: set[int] = set()
    try:
        with _pg_admin() as conn:
            for pid, datname in conn.execute("SELECT pid, datname FROM pg_stat_activity"):
                (ours if datname is None or datname in databases else theirs).add(int(pid))
            ours.add(int(conn.execute("SELECT pg_backend_pid()").fetchone()[0]))
    except Exception:
        pass  # no PostgreSQL: nothing of it to attribute
    return ours, theirs


def _cpu_of(pgids: set[int], pids: set[int], exclude: set[int]) -> dict[int, float]:
    """CPU seconds used so far by each live process in `pgids` or `pids`, but not `exclude`."""
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        info = _stat(int(entry))
        if info is not None and (info[1] in pgids or int(entry) in pids):
            used[int(entry)] = info[2]
    return used


class BusyWatch:
    """Watch the machine before and during a measured part: it is *busy* when processes
    that are not the benchmark's (not its process groups, not the PostgreSQL backends of its
    databases) use more than BUSY_OTHER_CORES, or the hypervisor steals more than BUSY_STEAL
    of the CPU. The benchmark's own load does not count. `result()` prints the verdict as
    `bench <label>_machine_busy 0|1 flag` and the detail on stderr."""

    def __init__(
        self,
        label: str,
        *,
        pgids: Sequence[int] = (),
        databases: Sequence[str] = (),
        interval: float = 0.5,
    ) -> None:
        self.label = label
        self._pgids = {os.getpgrp(), *pgids}
        self._databases = list(databases)
        self._interval = interval
        self._samples: list[tuple[float, float, float, float]] = []  # other, steal, span, load
        self._stop = False
        self._thread: Any = None
        self.before: tuple[float, float] = (0.0, 0.0)
        self._skipped = 0  # samples during which one of ours ended (see `_measure`)

    def add_group(self, pgid: int) -> None:
        self._pgids.add(pgid)

    def _ours(self) -> dict[int, float]:
        ours, theirs = _pg_backends(self._databases) if self._databases else (set(), set())
        return _cpu_of(self._pgids, ours, theirs)

    def _measure(self, seconds: float) -> tuple[float, float, float] | None:
        """(other processes' cores, steal, span) over `seconds`; None when one of ours
        ended meanwhile: the machine's counters hold the CPU it used in the interval, ours
        no longer do, and the difference would be counted as someone else's (a server
        stopping at the end of a run read as 12 cores of "other processes" on 2)."""
        busy0, steal0, total0 = _cpu_times()
        ours0, at0 = self._ours(), time.monotonic()
        time.sleep(seconds)
        busy1, steal1, total1 = _cpu_times()
        ours1, span = self._ours(), max(time.monotonic() - at0, 1e-6)
        if ours0.keys() - ours1.keys():
            return None
        # A process new in the interval (a child, a backend) used all its CPU within it.
        ours = sum(cpu - ours0.get(pid, 0.0) for pid, cpu in ours1.items())
        other = max((busy1 - busy0) - ours, 0.0) / span
        steal = (steal1 - steal0) / max(total1 - total0, 1e-6)
        return other, steal, span

    def start(self, quiet_seconds: float = 1.0) -> BusyWatch:
        """Sample the machine for `quiet_seconds` (the benchmark idle), then keep sampling
        in a thread until `result()`."""
        import threading

        for _ in range(3):
            measured = self._measure(quiet_seconds)
            if measured is not None:
                self.before = measured[:2]
                break

        def loop() -> None:
            while not self._stop:
                measured = self._measure(self._interval)
                if measured is None:
                    self._skipped += 1
                    continue
                other, steal, span = measured
                self._samples.append((other, steal, span, os.getloadavg()[0]))

        self._thread = threading.Thread(target=loop, name="busy-watch", daemon=True)
        self._thread.start()
        return self

    def result(self) -> bool:
        """Stop watching; print and return whether the machine was busy."""
        self._stop = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        span = sum(s[2] for s in self._samples) or 1e-6
        other = sum(s[0] * s[2] for s in self._samples) / span
        steal = sum(s[1] * s[2] for s in self._samples) / span
        peak = max((s[0] for s in self._samples), default=0.0)
        load = max((s[3] for s in self._samples), default=os.getloadavg()[0])
        busy = (
            max(self.before[0], other) > BUSY_OTHER_CORES or max(self.before[1], steal) > BUSY_STEAL
        )
        note(
            f"machine: {self.label}: other processes {self.before[0]:.2f} cores before, "
            f"{other:.2f} during (peak {peak:.2f}); steal {self.before[1]:.1%} before, "
            f"{steal:.1%} during; load average up to {load:.1f}"
            + (f"; {self._skipped} sample(s) left out (one of ours ended)" if self._skipped else "")
            + ("; BUSY: these figures understate warroom" if busy else "")
        )
        emit(f"{self.label}_machine_busy", int(busy), "flag")
        if busy:
            _busy_labels.append(self.label)
        return busy


def mark_busy(label: str) -> None:
    """Count a figure measured by other means (ingest's `cores:` lines) as busy."""
    if label not in _busy_labels:
        _busy_labels.append(label)


def emit_machine_busy() -> None:
    """The run's verdict: `bench machine_busy 1 flag` if any figure was measured busy."""
    if _busy_labels:
        note(f"measured while the machine was busy: {', '.join(_busy_labels)}")
    emit("machine_busy", int(bool(_busy_labels)), "flag")
