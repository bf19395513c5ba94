"""`warroom serve --engine-process`: the engine in a child process of its own.

In one process the engine and the API share Python's interpreter lock, so under a storm
routing takes time away from the senders (docs/benchmarks.md, eighth round). Here `serve`
runs `warroom engine` as its child instead. The child is woken by PostgreSQL's
notifications, as any other engine is, so this needs PostgreSQL.

`EngineProcess` starts the child and starts another when one exits on its own (after 1,
2, 5, 10, then every 30 seconds; a child that ran for a minute resets the count). It
stops the child with the server: SIGTERM, so the child finishes its pass, then SIGKILL
after the grace period. The child stops by itself when its standard input reaches its
end, which happens when the server is gone, even if it was killed.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from warroom.settings import Settings

log = logging.getLogger("warroom.engine")

RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A child that ran this long before it exited is started again after the first delay.
STEADY_SECONDS = 60.0


def refusal(settings: Settings) -> str | None:
    """Why these settings cannot run the engine in a child process (None: they can)."""
    if settings.engine and settings.engine_process and not settings.uses_postgresql:
        return (
            "--engine-process (WARROOM_ENGINE_PROCESS) needs PostgreSQL: an engine in "
            "another process is woken by its notifications; set WARROOM_DATABASE_URL to "
            "postgresql+psycopg://… or leave the engine in the server"
        )
    return None


def engine_argv() -> list[str]:
    """The child's command: `warroom engine`, told that a server owns it."""
    return [sys.executable, "-m", "warroom.cli", "engine", "--with-parent"]


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The server's environment, the same settings, except that the child leaves the
    schema alone: the server prepared it before starting the child."""
    return {**environ, "WARROOM_AUTO_MIGRATE": "false"}


class EngineProcess:
    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        delays: Sequence[float] = RESTART_DELAYS,
        steady_seconds: float = STEADY_SECONDS,
    ) -> None:
        self._argv = list(argv)
        self._env = dict(env)
        self._delays = tuple(delays)
        self._steady = steady_seconds
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The running child's process id (None between a child's exit and the next)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        process = self._spawn()
        if process is None:
            return
        self._watcher = threading.Thread(
            target=self._watch, args=(process,), name="warroom-engine-process", daemon=True
        )
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            # The argv is this program's own (`engine_argv`), never a request's.
            self._process = subprocess.Popen(  # noqa: S603
                self._argv, env=self._env, stdin=subprocess.PIPE
            )
            self.starts += 1
            log.info("engine process %d started", self._process.pid)
            return self._process

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            status = process.wait()
            _close_stdin(process)
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= self._steady:
                failures = 0
            delay = self._delays[min(failures, len(self._delays) - 1)]
            failures += 1
            log.error(
                "engine process %d exited with status %d; starting another in %g s",
                process.pid, status, delay,
            )  # fmt: skip
            if self._stopping.wait(delay):
                return
            spawned = self._spawn()
            if spawned is None:
                return
            process = spawned

    def stop(self, grace: float = 10.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after `grace` seconds) and start no other."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning(
                    "engine process %d did not stop in %g s; killing it", process.pid, grace
                )
                process.kill()
                process.wait()
        if process is not None:
            _close_stdin(process)
        if self._watcher is not None:
            self._watcher.join(grace)
            self._watcher = None


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None and not process.stdin.closed:
        with contextlib.suppress(OSError):  # the child is gone, and the pipe's other end
            process.stdin.close()


def stop_when_parent_goes(request_stop: Callable[[], None]) -> threading.Thread:
    """In the child: call `request_stop` when standard input reaches its end (the server
    closed its end or is gone)."""

    def wait_for_end() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        request_stop()

    thread = threading.Thread(target=wait_for_end, name="warroom-parent-watch", daemon=True)
    thread.start()
    return thread
