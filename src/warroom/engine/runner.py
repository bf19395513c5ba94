"""The engine loop: runs every registered job again and again, at once when woken.

A job is a function of the context that does whatever is due and returns how many
seconds it can sleep before it must run again (None: the default poll). Jobs keep their
state in the database, so a killed engine loses nothing and several engines can run
side by side (each job claims its work so that no two engines do the same thing).

A wake-up (work committed, here or in another process) runs the jobs that act on new
work (routing, timers, deliveries) at once: those of its kind (`wakeup.ALERTS`: routing;
`wakeup.WORK`: every one). Under a storm wake-ups come hundreds of times a second, and
three things keep the engine from taking the process away from the API that receives the
storm:

- after a pass, a wake-up waits as long as that pass took (at most `max_rest` seconds):
  a busy engine leaves the process to the API at least half the time, and the wake-ups
  meanwhile fold into the next pass, which routes more alerts at once; a quiet engine's
  passes take milliseconds, so a lone alert waits for next to nothing;
- the jobs that watch the clock rather than new work (`wakes=False`: heartbeats, rule
  timers, drills) run when the time they asked for comes, at least once per poll, never
  on a wake-up;
- a wake-up for new alerts runs routing, not the jobs that new alerts cannot give work
  to (timers and deliveries, about a millisecond of CPU each with nothing to do): they run
  when routing (or anything else) commits work for them, when the time they asked for
  comes, and at least once per poll.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from warroom.context import AppContext
from warroom.engine.wakeup import EVERY, Listener

log = logging.getLogger("warroom.engine")


def worker_id() -> str:
    """This process's name among the engines: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[AppContext], float | None]
    close: Callable[[], None] | None = None
    # A periodic job runs when the time it asked for has come, not on every wake-up.
    periodic: bool = False
    # False: like a periodic job, but at least once per poll interval whatever it asked.
    wakes: bool = True
    # The kinds of wake-up (`wakeup.ALERTS`, `wakeup.WORK`) that run it at once; on
    # others it waits for the time it asked for (at most a poll).
    wake_on: frozenset[str] = EVERY


class Engine:
    def __init__(
        self,
        ctx: AppContext,
        jobs: Sequence[Job],
        *,
        poll_seconds: float = 1.0,
        max_rest: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ctx = ctx
        self._jobs = list(jobs)
        self._poll = poll_seconds
        self._max_rest = max_rest
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_run: dict[str, float] = {}

    def run_once(self, woken: frozenset[str] | None = None) -> float:
        """Run every job that is due once; return how long the loop may sleep.

        `woken`: the kinds of work this pass was woken for; None (the first pass, a poll)
        runs every job that wakes."""
        sleep = self._poll
        for job in self._jobs:
            timed = job.periodic or not job.wakes
            if timed or (woken is not None and not job.wake_on & woken):
                wait = self._next_run.get(job.name, 0.0) - self._monotonic()
                # Work of its kind committed during this pass (by a job before it) runs it.
                if wait > 0 and (timed or not job.wake_on & self._ctx.wakeups.pending()):
                    sleep = min(sleep, wait)
                    continue
            try:
                wanted = job.run(self._ctx)
            except Exception:
                log.exception("engine job %s failed; it runs again at the next poll", job.name)
                wanted = None
            wait = self._poll if wanted is None else max(wanted, 0.0)
            if not job.periodic:
                wait = min(wait, self._poll)
            self._next_run[job.name] = self._monotonic() + wait
            sleep = min(sleep, wait)
        return sleep

    def run_forever(self) -> None:
        wakeups = self._ctx.wakeups
        listener = None
        if self._ctx.db.dialect == "postgresql":
            listener = Listener(self._ctx.db.url, wakeups)
            listener.start()
        poll = True  # the first pass, and one that no wake-up started, runs every job
        try:
            while not self._stop.is_set():
                kinds = wakeups.take()
                started = self._monotonic()
                sleep = self.run_once(None if poll else kinds)
                ended = self._monotonic()
                poll = False
                if sleep > 0:
                    if wakeups.wait(sleep):
                        # Woken: rest as long as the pass took, folding wake-ups meanwhile.
                        rest = ended + min(ended - started, self._max_rest) - self._monotonic()
                        if rest > 0:
                            self._stop.wait(rest)
                    else:
                        poll = True
        finally:
            if listener is not None:
                listener.stop()
            for job in self._jobs:
                if job.close is not None:
                    job.close()

    def request_stop(self) -> None:
        """Ask the loop to finish its current pass and return (safe from a signal handler)."""
        self._stop.set()
        self._ctx.wakeups.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="warroom-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
