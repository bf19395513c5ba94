"""App factories for experiments (`python -m bench --factory bench.experiments:NAME`).

They build the same warroom app with one thing changed, to measure a hypothesis; none of
them is used by a default run. Settings come from BENCH_* environment variables passed
with `--env NAME=VALUE`.
"""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI


def switch_interval() -> FastAPI:
    """The stock app with another GIL switch interval (BENCH_SWITCH_INTERVAL seconds,
    default Python's 0.005): tests whether the batch writer thread waits for the GIL
    after each database round trip while the event loop holds it."""
    from warroom.app import create_app

    sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH_INTERVAL", "0.005")))
    return create_app()
