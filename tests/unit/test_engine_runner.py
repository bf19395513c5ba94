"""The engine loop: which jobs a wake-up runs, and how wake-ups fold into passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from warroom.clock import FakeMonotonic
from warroom.context import AppContext
from warroom.engine.runner import Engine, Job
from warroom.engine.wakeup import ALERTS, WORK, WORK_ONLY, Wakeups


def _ctx() -> AppContext:
    return cast(
        AppContext,
        SimpleNamespace(wakeups=Wakeups(), db=SimpleNamespace(dialect="sqlite")),
    )


def _job(name: str, runs: list[str], wanted: float | None, **kwargs: Any) -> Job:
    def run(_: AppContext) -> float | None:
        runs.append(name)
        return wanted

    return Job(name, run, **kwargs)


def test_a_clock_job_runs_when_due_and_each_poll_never_on_a_wake_up() -> None:
    clock, runs = FakeMonotonic(), []
    engine = Engine(
        _ctx(),
        [_job("routing", runs, None), _job("heartbeats", runs, 30.0, wakes=False)],
        poll_seconds=1.0,
        monotonic=clock,
    )
    assert engine.run_once() == 1.0
    assert runs == ["routing", "heartbeats"]
    clock.now += 0.5  # a wake-up: new work for routing, nothing for the clock job
    assert engine.run_once() == 0.5  # until the clock job's next poll
    assert runs == ["routing", "heartbeats", "routing"]
    clock.now += 0.5  # it asked for 30 s, but runs at least once per poll
    engine.run_once()
    assert runs[-2:] == ["routing", "heartbeats"]


def test_a_clock_job_that_asks_for_less_than_a_poll_gets_it() -> None:
    clock, runs = FakeMonotonic(), []
    engine = Engine(
        _ctx(), [_job("rules", runs, 0.25, wakes=False)], poll_seconds=1.0, monotonic=clock
    )
    assert engine.run_once() == 0.25
    clock.now += 0.125
    engine.run_once()
    assert runs == ["rules"]
    clock.now += 0.125
    engine.run_once()
    assert runs == ["rules", "rules"]


def _passes_in_a_storm(pass_seconds: float, max_rest: float) -> int:
    """Passes of a one-job engine while an alert is committed every millisecond for 0.6 s."""
    ctx, runs = _ctx(), []

    def work(_: AppContext) -> None:
        runs.append("routing")
        time.sleep(pass_seconds)

    engine = Engine(ctx, [Job("routing", work)], poll_seconds=5.0, max_rest=max_rest)
    engine.start()
    try:
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            ctx.wakeups.alerts()
            time.sleep(0.001)
        return len(runs)
    finally:
        engine.stop()


def test_a_busy_engine_rests_as_long_as_its_passes_take() -> None:
    # 50 ms passes: one every 100 ms (about 6), where they ran back to back (about 12).
    assert 3 <= _passes_in_a_storm(0.05, max_rest=0.1) <= 8
    assert _passes_in_a_storm(0.05, max_rest=0.0) >= 10


def test_a_quick_pass_rests_next_to_nothing() -> None:
    # Passes of a millisecond or two: a wake-up is served within milliseconds, not 100 ms.
    assert _passes_in_a_storm(0.001, max_rest=0.1) >= 60


def test_a_wake_up_for_alerts_runs_routing_and_not_the_jobs_alerts_give_no_work() -> None:
    clock, runs = FakeMonotonic(), []
    engine = Engine(
        _ctx(),
        [_job("routing", runs, None), _job("timers", runs, 30.0, wake_on=WORK_ONLY)],
        poll_seconds=1.0,
        monotonic=clock,
    )
    engine.run_once()  # the first pass (or a poll): every job
    assert runs == ["routing", "timers"]
    clock.now += 0.25
    assert engine.run_once(frozenset({ALERTS})) == 0.75  # timers: at the poll at the latest
    assert runs == ["routing", "timers", "routing"]
    clock.now += 0.25
    engine.run_once(frozenset({WORK}))  # work for every job
    assert runs[3:] == ["routing", "timers"]


def test_a_skipped_job_runs_when_the_time_it_asked_for_comes() -> None:
    clock, runs = FakeMonotonic(), []
    engine = Engine(
        _ctx(), [_job("timers", runs, 0.1, wake_on=WORK_ONLY)], poll_seconds=1.0, monotonic=clock
    )
    engine.run_once()
    clock.now += 0.05
    assert engine.run_once(frozenset({ALERTS})) == pytest.approx(0.05)
    assert runs == ["timers"]
    clock.now += 0.05
    engine.run_once(frozenset({ALERTS}))
    assert runs == ["timers", "timers"]


def test_work_committed_earlier_in_the_pass_runs_its_jobs_in_the_same_pass() -> None:
    clock, runs, ctx = FakeMonotonic(), [], _ctx()

    def routing(_: AppContext) -> None:
        runs.append("routing")
        ctx.wakeups.set(WORK)  # it declared an incident: a page to send

    engine = Engine(
        ctx,
        [Job("routing", routing), _job("timers", runs, 30.0, wake_on=WORK_ONLY)],
        poll_seconds=1.0,
        monotonic=clock,
    )
    engine.run_once()
    ctx.wakeups.take()
    runs.clear()
    clock.now += 0.1
    engine.run_once(frozenset({ALERTS}))
    assert runs == ["routing", "timers"]


def test_the_loop_runs_the_jobs_of_the_kind_that_woke_it() -> None:
    ctx, runs = _ctx(), []
    engine = Engine(
        ctx,
        [_job("routing", runs, None), _job("timers", runs, None, wake_on=WORK_ONLY)],
        poll_seconds=5.0,
        max_rest=0.0,
    )
    engine.start()
    try:
        _until(lambda: runs == ["routing", "timers"])
        ctx.wakeups.alerts()
        _until(lambda: len(runs) == 3)
        assert runs[2] == "routing"
        ctx.wakeups.set()
        _until(lambda: len(runs) == 5)
        assert runs[3:] == ["routing", "timers"]
    finally:
        engine.stop()


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
