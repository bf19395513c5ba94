"""The benchmarks' busy-machine watch must not count the benchmark's own processes as
someone else's, not even one that ends while a sample is taken (a server stopping at the
end of a run once read as 12 cores of "other processes" on a 2-core machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from bench.common import BusyWatch, _cpu_of

_BURN = """
import sys, time
print("go", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""


def _burner(seconds: float) -> subprocess.Popen[str]:
    """A process of this process group (the benchmark's own) that burns a core for
    `seconds` once it has said so."""
    child = subprocess.Popen(
        [sys.executable, "-c", _BURN, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    started = child.stdout.readline()
    child.stdout.close()
    assert started == "go\n"
    return child


def test_a_process_of_ours_that_ends_mid_sample_leaves_the_sample_out() -> None:
    watch = BusyWatch("test")
    child = _burner(0.2)
    # Reaped as soon as it ends, as a benchmark reaps the server it stops: until then a
    # zombie keeps its /proc entry and its CPU times.
    reaper = threading.Thread(target=child.wait)
    reaper.start()
    try:
        assert watch._measure(1.5) is None
    finally:
        reaper.join(5)


def test_a_live_process_of_ours_is_counted_as_ours() -> None:
    child = _burner(1.0)
    try:
        time.sleep(0.5)
        used = _cpu_of({os.getpgrp()}, set(), set())
    finally:
        child.wait(5)
    assert used.get(child.pid, 0.0) > 0.0
