"""Every engine job, in the order one engine pass runs them."""

from __future__ import annotations

from warroom.alerts.routing import evaluate_rules, route_alerts
from warroom.engine.runner import Job
from warroom.heartbeats.job import HEARTBEATS_JOB


def all_jobs() -> list[Job]:
    return [
        HEARTBEATS_JOB,
        Job("alert-routing", route_alerts),
        Job("rule-evaluation", evaluate_rules),
    ]
