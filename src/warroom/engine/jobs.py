"""Every engine job, in the order one engine pass runs them."""

from __future__ import annotations

from warroom.engine.runner import Job
from warroom.heartbeats.job import HEARTBEATS_JOB


def all_jobs() -> list[Job]:
    return [HEARTBEATS_JOB]
