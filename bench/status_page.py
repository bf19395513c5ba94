"""The public status page under a crowd: warroom against nginx on the same files.

A real server (uvicorn, one worker, SQLite, the engine on) gets an active public incident;
the engine publishes the snapshot. Then `/status` and `/status/api/v2/summary.json` are
loaded with wrk (32 connections, gzip accepted, loopback only, a bounded window each):
with the database up, with the database file overwritten with junk (down), and served by
Debian's nginx (one worker) from the same directory with docs/status-page.nginx.conf.

    python -m bench status_page        (or python -m bench.status_page)

Prints `bench status_page_warroom_rps`, `status_page_warroom_p99` (database down,
`/status`), `status_page_nginx_rps`, `status_page_vs_nginx_ratio`, and one line per
path and condition.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, emit, free_port, http, note, start, stop, wait_ready
from bench.load import find_wrk

CONNECTIONS = 32
PATHS = {"page": "/status", "summary": "/status/api/v2/summary.json"}
TOKEN = "bench-status-page-token-0123456789"


@dataclass(frozen=True)
class Measured:
    rps: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else math.nan


def load(wrk: str, url: str, seconds: float, logdir: Path, tag: str) -> Measured:
    """wrk against one URL for a bounded window; requests per second and p99."""
    assert url.startswith("http://127.0.0.1:"), "loopback targets only"
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
            "--timeout", "5s", "-H", "Accept-Encoding: gzip", url]  # fmt: skip
    log = logdir / f"wrk-status-{tag}.log"
    child = start("wrk", argv, env=dict(os.environ), log=log)
    try:
        child.proc.wait(timeout=seconds + 30)
    finally:
        stop(child)
    out = log.read_text(errors="replace")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(g) for g in errors.groups()) if errors else 0) + (
        int(non2xx.group(1)) if non2xx else 0
    )
    if rps is None or p99 is None:
        raise RuntimeError(f"wrk failed: {out[-500:]}")
    return Measured(float(rps.group(1)), _ms(p99.group(1)), failed)


def _nginx_conf(directory: Path, port: int, prefix: Path) -> Path:
    sample = (ROOT / "docs" / "status-page.nginx.conf").read_text()
    server = sample.replace("/var/lib/warroom/status", str(directory)).replace(
        "127.0.0.1:8081", f"127.0.0.1:{port}"
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        "worker_processes 1;\npid nginx.pid;\nerror_log stderr warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n  sendfile on;\n  keepalive_requests 100000;\n"
        f"  client_body_temp_path {prefix}/tmp;\n  proxy_temp_path {prefix}/tmp;\n"
        f"  fastcgi_temp_path {prefix}/tmp;\n  uwsgi_temp_path {prefix}/tmp;\n"
        f"  scgi_temp_path {prefix}/tmp;\n"
        f"{server}\n}}\n"
    )
    (prefix / "tmp").mkdir(exist_ok=True)
    return conf


def _make_incident(url: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    status, body = http(
        "POST",
        f"{url}/api/v1/incidents",
        json.dumps({"title": "bench", "severity": "SEV1", "services": ["api-gateway"]}).encode(),
        auth,
    )
    assert status == 201, body
    key = json.loads(body)["id"]
    update = {
        "status": "identified",
        "public": True,
        "message": "Some API requests fail; a fix is being deployed.",
        "components": {"API": "partial_outage"},
    }
    status, body = http(
        "POST", f"{url}/api/v1/incidents/{key}/status", json.dumps(update).encode(), auth
    )
    assert status == 200, body
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = http("GET", f"{url}/status/api/v2/summary.json")
        if status == 200 and json.loads(body)["incidents"]:
            return
        time.sleep(0.2)
    raise RuntimeError("the public incident never reached summary.json")


def run(seconds: float = 5.0, logdir: Path | None = None) -> int:
    wrk = find_wrk()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if wrk is None:
        note("status_page: wrk is needed (apt-get install wrk); skipped")
        return 1
    work = Path(tempfile.mkdtemp(prefix="warroom-bench-status-"))
    work.chmod(0o755)  # nginx's workers (not root) read the snapshot in it
    logdir = logdir or work
    database = work / "warroom.db"
    status_dir = work / "status"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")} | {
        "WARROOM_DATABASE_URL": f"sqlite:///{database}",
        "WARROOM_CONFIG": str(ROOT / "examples"),
        "WARROOM_BOOTSTRAP_TOKEN": TOKEN,
        "WARROOM_BASE_URL": url,
        "WARROOM_STATUS_DIR": str(status_dir),
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "warroom.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            "--log-level", "warning"]  # fmt: skip
    server = start("warroom", argv, env=env, log=logdir / "warroom-status.log", cwd=work)
    failures = 0
    results: dict[str, Measured] = {}
    try:
        wait_ready(server, f"{url}/healthz")
        _make_incident(url)
        for name, path in PATHS.items():
            results[f"warroom_db_up_{name}"] = load(wrk, url + path, seconds, logdir, f"up-{name}")
        for file in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if file.exists():
                with file.open("r+b") as handle:
                    handle.write(b"\xde\xad" * 4096)
        status, _ = http(
            "GET", f"{url}/api/v1/incidents", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        note(f"database overwritten with junk: the API now answers {status}")
        for name, path in PATHS.items():
            results[f"warroom_db_down_{name}"] = load(
                wrk, url + path, seconds, logdir, f"down-{name}"
            )
    finally:
        stop(server)
    if nginx is None:
        note("status_page: nginx is not installed (apt-get install nginx-light); no comparison")
    else:
        nginx_port = free_port()
        prefix = work / "nginx"
        prefix.mkdir()
        conf = _nginx_conf(status_dir, nginx_port, prefix)
        child = start(
            "nginx",
            [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
            env=dict(os.environ),
            log=logdir / "nginx.log",
        )
        try:
            wait_ready(child, f"http://127.0.0.1:{nginx_port}/status")
            for name, path in PATHS.items():
                results[f"nginx_{name}"] = load(
                    wrk, f"http://127.0.0.1:{nginx_port}{path}", seconds, logdir, f"nginx-{name}"
                )
        finally:
            stop(child)
    for key, measured in results.items():
        emit(f"status_page_{key}_rps", measured.rps, "req/s")
        emit(f"status_page_{key}_p99", measured.p99_ms, "ms")
        failures += measured.errors
        if measured.errors:
            note(f"{key}: {measured.errors} failed requests")
    down = results["warroom_db_down_page"]
    emit("status_page_warroom_rps", down.rps, "req/s")
    emit("status_page_warroom_p99", down.p99_ms, "ms")
    if "nginx_page" in results:
        emit("status_page_nginx_rps", results["nginx_page"].rps, "req/s")
        emit("status_page_vs_nginx_ratio", down.rps / results["nginx_page"].rps, "x")
    note(
        f"target: >= 5,000 req/s with p99 < 20 ms while the database is down; "
        f"warroom {down.rps:.0f} req/s, p99 {down.p99_ms:.1f} ms"
    )
    shutil.rmtree(work, ignore_errors=True) if logdir != work else None
    return 1 if failures else 0


def run_benchmark(args: argparse.Namespace) -> int:
    """The `python -m bench status_page` entry point."""
    return run(seconds=args.duration, logdir=args.logdir)


if __name__ == "__main__":
    raise SystemExit(run())
