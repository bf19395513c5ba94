"""Every engine job, in the order one engine pass runs them."""

from __future__ import annotations

from datetime import timedelta

# Imported for their side effect: they register event subscribers and timer handlers.
import warroom.authority.staffing
import warroom.changes.service
import warroom.escalation.service
import warroom.handoffs.service
import warroom.runbooks.service
import warroom.security.regulatory
import warroom.sla.service  # noqa: F401
from warroom.adapters.channels import log_channel_problems
from warroom.adapters.registry import build_notifiers
from warroom.alerts.routing import evaluate_rules, route_alerts
from warroom.chat.job import chat_jobs
from warroom.context import AppContext
from warroom.drills.service import advance as advance_drills
from warroom.engine.beat import beat_job
from warroom.engine.runner import Job, worker_id
from warroom.engine.timer_job import TimerRunner
from warroom.engine.wakeup import WORK_ONLY
from warroom.heartbeats.job import HEARTBEATS_JOB
from warroom.notifications.delivery import Deliverer, Throttle
from warroom.notifications.service import plan_fallback
from warroom.oncall.notices import plan_shift_notices
from warroom.postmortems.reminders import send_reminders
from warroom.reports.schedule import send_scheduled_reports
from warroom.security.retention import retention_job
from warroom.statuspage.job import StatusPagePublisher


def all_jobs(ctx: AppContext) -> list[Job]:
    notifiers = build_notifiers(ctx.settings)
    log_channel_problems(ctx.config, frozenset(notifiers))
    lease = timedelta(seconds=ctx.settings.engine_lease_seconds)
    throttles = {
        channel: Throttle(limit=rule.limit, window=rule.window)
        for channel, rule in ctx.config.notification_throttles.items()
    }
    deliverer = Deliverer(notifiers, fallback=plan_fallback, lease=lease, throttles=throttles)

    def close() -> None:
        deliverer.close()
        notifiers.close()

    return [
        beat_job(worker_id()),
        HEARTBEATS_JOB,
        Job("drills", advance_drills, wakes=False),
        Job("alert-routing", route_alerts),
        Job("rule-evaluation", evaluate_rules, wakes=False),
        # New alerts give these no work until routing commits some (which wakes them).
        Job("timers", TimerRunner(lease=lease), wake_on=WORK_ONLY),
        Job("deliveries", deliverer, close=close, wake_on=WORK_ONLY),
        Job("shift-notices", plan_shift_notices, periodic=True),
        Job("status-page", StatusPagePublisher(), periodic=True),
        Job("postmortem-reminders", send_reminders, periodic=True),
        Job("scheduled-reports", send_scheduled_reports, periodic=True),
        *chat_jobs(ctx, lease),
        Job("evidence-retention", retention_job, periodic=True),
    ]
