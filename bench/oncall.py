"""Who is on call now, across 1,000 schedules (target: < 50 ms for all of them).

The schedules look like real ones: 2 layers of 4-8 people each, hourly to weekly turns in
a dozen time zones, business-hours or night restrictions on about a third of the layers,
and a few overrides around the instant asked about. Compiling the definitions happens
once, as a server does at start; the measured part is `who_is_on_call` for every schedule
at one instant (a different instant each round, so nothing is cached between rounds).

    python -m bench oncall        (or python -m bench.oncall)
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.common import BusyWatch, emit, note, setup_timer
from warroom.config.oncall import Schedule as ScheduleSpec
from warroom.oncall.logic import Override, OverrideKind, Schedule, from_spec, who_is_on_call

SCHEDULES = 1_000
ROUNDS = 50
NAME = "oncall_lookup_1000_schedules"
ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Africa/Cairo",
]
PEOPLE = [f"user{i:04d}" for i in range(2_000)]
ROTATIONS = ["hourly", "daily", "daily", "weekly", "weekly", "weekly", "custom"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]


def _layer(rng: random.Random, name: str) -> dict[str, object]:
    rotation = rng.choice(ROTATIONS)
    layer: dict[str, object] = {
        "name": name,
        "rotation": rotation,
        "handoff_time": f"{rng.randrange(24):02d}:{rng.choice([0, 30]):02d}",
        "start": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "participants": rng.sample(PEOPLE, rng.randint(4, 8)),
    }
    if rotation == "weekly":
        layer["handoff_day"] = rng.choice(WEEKDAYS)
    if rotation == "custom":
        layer["shift_length"] = rng.choice(["8 hours", "12 hours", "2 days", "2 weeks"])
    roll = rng.random()
    if roll < 0.2:
        layer["restrictions"] = [
            {"type": "day_of_week", "days": WEEKDAYS, "start": "09:00", "end": "17:00"}
        ]
    elif roll < 0.33:
        layer["restrictions"] = [{"type": "time_of_day", "start": "18:00", "end": "08:00"}]
    return layer


def build(
    rng: random.Random, around: datetime, count: int = SCHEDULES
) -> list[tuple[Schedule, list[Override]]]:
    """`count` compiled schedules, each with the overrides a look-up near `around` sees."""
    built = []
    for i in range(count):
        spec = ScheduleSpec.model_validate(
            {
                "name": f"schedule-{i:04d}",
                "time_zone": rng.choice(ZONES),
                "layers": [_layer(rng, "primary"), _layer(rng, "secondary")],
            }
        )
        schedule = from_spec(spec)
        overrides = []
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            start = around + timedelta(hours=rng.uniform(-72, 72))
            end = start + timedelta(hours=rng.uniform(1, 48))
            layer = rng.choice(spec.layers)
            kind = rng.choice(list(OverrideKind))
            if kind is OverrideKind.ADD:
                overrides.append(Override(kind, start, end, user=rng.choice(PEOPLE)))
            elif kind is OverrideKind.REMOVE:
                overrides.append(Override(kind, start, end, layer=layer.name))
            else:
                overrides.append(
                    Override(
                        kind,
                        start,
                        end,
                        user=rng.choice(PEOPLE),
                        replaces=rng.choice(layer.participants),
                    )
                )
        built.append((schedule, overrides))
    return built


def lookup_all(built: list[tuple[Schedule, list[Override]]], at: datetime) -> int:
    """Ask every schedule who is on call at `at`; the number of people found."""
    return sum(len(who_is_on_call(schedule, at, overrides)) for schedule, overrides in built)


def run(rounds: int = ROUNDS, seed: int = 4) -> dict[str, float]:
    rng = random.Random(seed)
    around = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # the week Europe falls back
    with setup_timer(NAME):
        built = build(rng, around)
    note(f"oncall: built {len(built)} schedules")
    lookup_all(built, around)  # warm up the time zone caches
    watch = BusyWatch(NAME).start()
    timings, cpu, found = [], [], 0
    for i in range(rounds):
        at = around + timedelta(minutes=37 * i)
        began, began_cpu = time.perf_counter(), time.thread_time()
        found = lookup_all(built, at)
        timings.append((time.perf_counter() - began) * 1000)
        cpu.append((time.thread_time() - began_cpu) * 1000)
    watch.result()
    timings.sort()
    result = {
        "p50": statistics.median(timings),
        "p99": timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))],
        "max": timings[-1],
    }
    for stat, value in result.items():
        emit(f"{NAME}_{stat}", value, "ms")
    note(
        f"oncall: {rounds} rounds of {len(built)} look-ups ({found} people on call in the "
        f"last); CPU time p50 {statistics.median(cpu):.1f} ms; target < 50 ms"
    )
    return result


def run_benchmark(args: argparse.Namespace) -> None:
    """The `python -m bench oncall` entry point."""
    run()


if __name__ == "__main__":
    run()
