"""Alerta (`alerta-server` from PyPI) under the same single-event load, on the same
PostgreSQL, as the reference point of issue 3.

Alerta is installed by this script into a venv of its own outside the repository
(`$WARROOM_BENCH_ALERTA_VENV`, default /tmp/warroom-bench-alerta-venv), kept between runs;
nothing of Alerta enters the repo. It runs the way its docs deploy it: gunicorn, 2 sync
workers, the PostgreSQL backend (psycopg2-binary), no authentication, default plugins.
Any failure here is reported and yields `nan`; it never fails the whole run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Child,
    emit,
    format_cores,
    free_port,
    note,
    pg_available,
    pg_url,
    scratch_db,
    start,
    stop,
    wait_ready,
)
from bench.ingest import Options, quiet_run
from bench.load import LoadGenerator, LoadResult, LoadSpec

VENV = Path(os.environ.get("WARROOM_BENCH_ALERTA_VENV", "/tmp/warroom-bench-alerta-venv"))
# Pinned so that runs compare like with like; bump deliberately.
PACKAGES = ["alerta-server==9.1.0", "gunicorn", "psycopg2-binary"]
INSTALL_TIMEOUT = 600


@dataclass
class AlertaResult:
    load: LoadResult
    cores: dict[str, float]


def _python() -> Path:
    return VENV / "bin" / "python"


def _installed() -> bool:
    if not (_python().exists() and (VENV / "bin" / "gunicorn").exists()):
        return False
    probe = subprocess.run(
        [str(_python()), "-c", "import alerta, psycopg2, gunicorn"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


def ensure_installed() -> None:
    if _installed():
        return
    note(f"installing {' '.join(PACKAGES)} into {VENV} (once; kept for later runs) ...")
    base = getattr(sys, "_base_executable", None) or sys.executable
    pip = [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [[base, "-m", "venv", "--clear", str(VENV)], [*pip, *PACKAGES]]
    deadline = time.monotonic() + INSTALL_TIMEOUT
    for argv in steps:
        left = deadline - time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=left, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} failed: {proc.stderr.strip()[-800:]}")
    if not _installed():
        raise RuntimeError("alerta-server installed but cannot be imported")


def _env(database_url: str, conf: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "VIRTUAL_ENV"))}
    env.update(
        {
            "ALERTA_SVR_CONF_FILE": str(conf),
            "DATABASE_URL": database_url,
            "AUTH_REQUIRED": "False",
            "PATH": f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        }
    )
    return env


def _gunicorn_argv(port: int) -> list[str]:
    argv = [
        str(VENV / "bin" / "gunicorn"),
        "--workers", "2",
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
        "--timeout", "60",
    ]  # fmt: skip
    helptext = subprocess.run(
        [argv[0], "--help"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    if "--no-control-socket" in helptext:
        argv.append("--no-control-socket")  # newer gunicorn would create ~/.gunicorn otherwise
    return [*argv, "alerta:create_app()"]


def measure(options_window: float, warmup: float, connections: int, load: LoadGenerator,
            logdir: Path, retries: int = 2) -> AlertaResult:  # fmt: skip
    ensure_installed()
    with scratch_db("warroom_bench_alerta") as name, tempfile.TemporaryDirectory() as tmp:
        url = pg_url(name, scheme="postgres")
        conf = Path(tmp) / "alertad.conf"
        conf.write_text(
            f"DATABASE_URL = {url!r}\nAUTH_REQUIRED = False\nLOG_LEVEL = 'WARNING'\nDEBUG = False\n"
        )
        env = _env(url, conf)
        # Create Alerta's schema once, before two workers would both try at start-up.
        init = subprocess.run(
            [str(_python()), "-c", "from alerta import create_app; create_app()"],
            env=env, cwd=tmp, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"Alerta could not initialise its schema: {init.stderr[-800:]}")
        port = free_port()
        child: Child = start(
            "alerta", _gunicorn_argv(port), env=env, log=logdir / "alerta.log", cwd=Path(tmp)
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(child, base + "/management/healthcheck", timeout=60)
            spec = LoadSpec(base, "alerta", connections, options_window, unique=0.1, pool=1000,
                            timeout=20.0)  # fmt: skip
            if warmup > 0:
                load.run(LoadSpec(base, "alerta", connections, warmup, unique=0.1, pool=1000,
                                  tag="alerta-warm", timeout=20.0))  # fmt: skip
            result, cores = quiet_run(
                lambda: load.run(spec, {"alerta": child.pid}), Options(retries=retries)
            )
        finally:
            stop(child)
    return AlertaResult(result, cores)


def run(window: float, warmup: float, connections: int, load: LoadGenerator,
        logdir: Path, retries: int = 2) -> float:  # fmt: skip
    """Measure Alerta and print its lines; return its throughput (nan on failure)."""
    why = pg_available()
    if why is not None:
        note(f"Alerta not measured: PostgreSQL unavailable ({why})")
        emit("ingest_alerta_pg_throughput", float("nan"), "events/s")
        return float("nan")
    note("Alerta 9.1 (gunicorn, 2 sync workers, PostgreSQL, no auth):")
    try:
        measured = measure(window, warmup, connections, load, logdir, retries)
    except Exception as exc:
        note(f"Alerta not measured: {type(exc).__name__}: {exc}")
        emit("ingest_alerta_pg_throughput", float("nan"), "events/s")
        return float("nan")
    r = measured.load
    note(f"  POST /alert: {r.describe()}")
    cost = measured.cores.get("alerta", 0.0) * 1000 / r.rate if r.rate > 0 else float("nan")
    note(f"    cores: {format_cores(measured.cores)}; Alerta CPU {cost:.3f} ms per event")
    if measured.cores.get("other", 0.0) > 0.3:
        note("    WARNING: other processes used CPU during this window")
    emit("ingest_alerta_pg_throughput", r.rate, "events/s")
    emit("ingest_alerta_pg_p50", r.p50_ms, "ms")
    emit("ingest_alerta_pg_p99", r.p99_ms, "ms")
    emit("ingest_alerta_pg_errors", r.errors, "requests")
    return r.rate
