"""Every engine job, in the order one engine pass runs them."""

from __future__ import annotations

from warroom.engine.runner import Job


def all_jobs() -> list[Job]:
    return []
