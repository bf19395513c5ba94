"""`python -m bench [NAME ...] [options]`: run the named benchmarks (all when none is named).

Results go to stdout, one per line, as `bench <name> <value> <unit>`; commentary goes to
stderr. A benchmark is a function taking the parsed options, registered in BENCHMARKS.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import (
    alerta,
    engine,
    engine_profile,
    ingest,
    ingest_profile,
    oncall,
    paging,
    reports,
    routing_profile,
    status_page,
)
from bench.common import cleanup, emit, emit_machine_busy, install_signal_handlers, note
from bench.load import LoadGenerator


@dataclass(frozen=True)
class Benchmark:
    name: str
    help: str
    # Returns None or a number of failures; any failure makes the run exit with status 1.
    run: Callable[[argparse.Namespace], int | None]


def _ingest_options(args: argparse.Namespace) -> ingest.Options:
    return ingest.Options(
        window=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        am_connections=args.am_connections,
        databases=tuple(args.db),
        workers=tuple(args.workers),
        alerta=not args.no_alerta,
        generator=args.generator,
        factory=args.factory,
        extra_sql=tuple(args.extra_sql),
        retries=args.retries,
        extra_env=dict(kv.split("=", 1) for kv in args.env),
        logdir=args.logdir,
    )


def run_ingest(args: argparse.Namespace) -> int:
    options = _ingest_options(args)
    headline = ingest.run(options)
    failures = int(headline.get("failures", 0))
    if not options.alerta:
        return failures
    assert options.logdir is not None
    rate = alerta.run(
        options.window,
        options.warmup,
        options.connections,
        LoadGenerator(options.logdir, options.generator),
        options.logdir,
        options.retries,
    )
    ours = headline.get("pd_pg", float("nan"))
    ratio = ours / rate if rate and not math.isnan(rate) and not math.isnan(ours) else math.nan
    emit("ingest_pd_v2_pg_vs_alerta_ratio", ratio, "x")
    if not math.isnan(ratio):
        note(f"warroom PD v2 on PostgreSQL is {ratio:.1f}x Alerta (target >= 25x)")
    return failures  # Alerta's own failures never fail the run


def run_paging(args: argparse.Namespace) -> None:
    assert args.logdir is not None
    paging.run(args.logdir, storm=max(500, int(10_000 * args.scale)))


def run_timers(args: argparse.Namespace) -> None:
    assert args.logdir is not None
    engine.run(args.logdir, args.scale)


def run_timer_profile(args: argparse.Namespace) -> None:
    engine_profile.run(args.scale)


def run_ingest_profile(args: argparse.Namespace) -> None:
    ingest_profile.run(args.scale)


def run_routing_profile(args: argparse.Namespace) -> None:
    routing_profile.run(args.scale)


def run_alerta(args: argparse.Namespace) -> None:
    assert args.logdir is not None
    alerta.run(
        args.duration,
        args.warmup,
        args.connections,
        LoadGenerator(args.logdir, args.generator),
        args.logdir,
        args.retries,
    )


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "ingest",
            "alert ingest (PD v2, Alertmanager, no-op) on SQLite and PostgreSQL, and Alerta",
            run_ingest,
        ),
        Benchmark(
            "ingest_profile",
            "round trips or statements per batch, CPU and Python calls per PD event of the "
            "batch writer, in this process (PG, SQLite; WARROOM_BENCH_PROFILE=1 adds a cProfile)",
            run_ingest_profile,
        ),
        Benchmark(
            "routing_profile",
            "CPU and statements per routed alert of the paging benchmark's storm, in this "
            "process (PG, SQLite; WARROOM_BENCH_PROFILE=1 adds a cProfile)",
            run_routing_profile,
        ),
        Benchmark("alerta", "Alerta alone (part of `ingest`)", run_alerta),
        Benchmark("oncall", "who is on call now across 1,000 schedules", oncall.run_benchmark),
        Benchmark(
            "paging",
            "alert → first page alone and during a 10,000-alert storm; storm ingest with the "
            "engine against ingest alone (PG)",
            run_paging,
        ),
        Benchmark(
            "timers",
            "timer throughput (PG, SQLite, two engines on PG) and lateness with 100,000 "
            "pending timers (PG)",
            run_timers,
        ),
        Benchmark(
            "timer_profile",
            "statements per timer, longest write transaction and in-process rate of the "
            "timer job (SQLite, PG; WARROOM_BENCH_PROFILE=1 adds a cProfile)",
            run_timer_profile,
        ),
        Benchmark(
            "status_page",
            "/status and summary.json, database up and down, vs nginx",
            status_page.run_benchmark,
        ),
        Benchmark("reports", "the metrics report over 100,000 incidents", reports.run_benchmark),
        Benchmark(
            "idle_rss",
            "idle RSS of `warroom serve` on an empty database (part of `reports`)",
            reports.run_idle_rss,
        ),
    )
}
DEFAULT = [
    "ingest",
    "oncall",
    "paging",
    "timers",
    "status_page",
]  # what `python -m bench` runs (ingest already includes Alerta)


def _csv(kind: type) -> Callable[[str], list]:  # type: ignore[type-arg]
    return lambda text: [kind(part) for part in text.split(",") if part]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per load")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each load")
    p.add_argument("--connections", type=int, default=32, help="concurrency for single events")
    p.add_argument("--am-connections", type=int, default=8, help="concurrency for AM batches")
    p.add_argument("--db", type=_csv(str), default=["sqlite", "pg"], help="sqlite,pg")
    p.add_argument("--workers", type=_csv(int), default=[1, 2], help="uvicorn workers: 1,2")
    p.add_argument("--no-alerta", action="store_true", help="skip Alerta")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a window again this often while other processes use the CPU",
    )
    p.add_argument("--generator", choices=["wrk", "python"], default="wrk")
    p.add_argument("--factory", default="warroom.app:create_app", help="uvicorn app factory")
    p.add_argument("--logdir", type=Path, default=None, help="keep logs here")
    p.add_argument(
        "--extra-sql",
        action="append",
        default=[],
        metavar="SQL",
        help="experiment: run this SQL on each fresh warroom database after migrating",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="experiment: extra environment for the warroom server",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="shrink the engine and paging benchmarks' counts (0.1: a tenth) for a quick check",
    )
    p.add_argument("--list", action="store_true", help="list the benchmarks")
    args = p.parse_args(argv)
    for name in args.names:
        if name not in BENCHMARKS:
            p.error(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    for db in args.db:
        if db not in ("sqlite", "pg"):
            p.error(f"--db takes sqlite and/or pg, not {db!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.list:
        for b in BENCHMARKS.values():
            print(f"{b.name:10} {b.help}")
        return 0
    install_signal_handlers()
    if args.logdir is None:
        args.logdir = Path(tempfile.mkdtemp(prefix="warroom-bench-logs-"))
    args.logdir.mkdir(parents=True, exist_ok=True)
    names = args.names or DEFAULT
    note(
        f"warroom benchmarks: {', '.join(names)}; {args.duration:g} s per load after "
        f"{args.warmup:g} s warm-up; concurrency {args.connections} (AM {args.am_connections})"
    )
    note("results: `bench <name> <value> <unit>` on stdout; commentary on stderr")
    started = time.monotonic()
    failures = 0
    try:
        for name in names:
            failures += BENCHMARKS[name].run(args) or 0
        emit_machine_busy()
    finally:
        cleanup()
    note(
        f"done in {time.monotonic() - started:.0f} s" + (f"; {failures} failed" if failures else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
