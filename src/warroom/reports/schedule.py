"""Scheduled reports: an engine job e-mails each configured report once when it is due.

`reports.schedule` entries name a period, a local time (optionally a weekday) and a time
zone. The report sent at a due instant is the last complete period before it. Each
message goes through the outbox with the idempotency key `report:<period>:<zone>:<start of
the period>:<address>`, so several engines, or one restarted, never send it twice — the
outbox keeps the first row with a key. Due instants are local times built on the injected
clock's date in the zone: a local time that a DST change skips is taken as the same
instant an hour later by the wall clock, and one it repeats as its first occurrence; the
key is the period's, not the instant's, so either way it is sent once. A report more than
`GRACE` late (the engine was down) is skipped, not sent days afterwards.

E-mailed reports leave restricted incidents out: the reader is not a participant.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal, Role
from warroom.config.reports import ScheduledReport
from warroom.context import AppContext
from warroom.engine import outbox
from warroom.engine.models import Notification
from warroom.engine.wakeup import notify
from warroom.reports import periodic, render
from warroom.reports.logic import Period, _next_start, _period_start, window
from warroom.reports.pdf import report_pdf

EVERY = 60.0  # seconds between passes
GRACE = timedelta(hours=24)
REASON = "report"
#: Who the scheduled reports are computed for: sees what any viewer sees, not restricted.
READER = Principal(name="scheduled-report", role=Role.VIEWER)


def _local(day: date, entry: ScheduledReport, zone: ZoneInfo) -> datetime:
    weekday, at = entry.time_of_day()
    if weekday is not None:
        day += timedelta(days=(weekday - day.isoweekday()) % 7)
    # Through UTC and back: a skipped local time becomes a real instant (fold=0 picks the
    # first of a repeated one).
    return datetime.combine(day, at, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def last_due(entry: ScheduledReport, zone: ZoneInfo, now: datetime, week_starts: int) -> datetime:
    """Return the latest due instant of `entry` at or before `now`."""
    period = Period(entry.period)
    start = _period_start(period, now.astimezone(zone).date(), week_starts)
    candidate = _local(start, entry, zone)
    while candidate > now:
        # The period before: step back a day from its start and take that period's start.
        start = _period_start(period, start - timedelta(days=1), week_starts)
        candidate = _local(start, entry, zone)
    # A weekday can put the due day past the next period's start: check the one after too.
    following = _local(_next_start(period, start), entry, zone)
    return following if following <= now else candidate


def _key(period: str, zone: ZoneInfo, since: datetime, address: str) -> str:
    return f"report:{period}:{zone.key}:{since.isoformat()}:{address.lower()}"


def run_pass(ctx: AppContext, session: Session, now: datetime) -> int:
    """Queue every scheduled report due at `now` not queued before; return how many."""
    config = ctx.config.reports
    queued = 0
    for entry in config.schedule:
        zone = ZoneInfo(entry.timezone or config.timezone)
        due = last_due(entry, zone, now, config.week_starts)
        if now - due > GRACE:
            continue
        period = Period(entry.period)
        span = window(period, now=due, zone=zone, week_starts=config.week_starts)
        keys = {address: _key(period.value, zone, span.since, address) for address in entry.to}
        sent = set(
            session.scalars(
                select(Notification.idempotency_key).where(
                    Notification.idempotency_key.in_(list(keys.values()))
                )
            )
        )
        if sent >= set(keys.values()):
            continue  # the common case: nothing is computed
        data = periodic.report(
            session, config=ctx.config, viewer=READER, period=period, now=due, zone=zone
        )
        subject = f"Incident report, {period.value}: {data['label']} ({zone.key})"
        attachment = {
            "filename": f"incident-report-{period.value}-{span.start.date().isoformat()}.pdf",
            "content_type": "application/pdf",
            "base64": base64.b64encode(report_pdf(data)).decode("ascii"),
        }
        payload = {"html": render.html(data), "attachments": [attachment]}
        text = render.markdown(data)
        for address, key in keys.items():
            if key in sent:
                continue
            row = outbox.NewNotification(
                idempotency_key=key, channel="email", address=address, reason=REASON,
                subject=subject, body=text, due_at=now, payload=payload,
            )  # fmt: skip
            queued += outbox.enqueue(session, row, now=now) is not None
    return queued


def send_scheduled_reports(ctx: AppContext) -> float:
    """The engine job: one pass in its own transaction."""
    if not ctx.config.reports.schedule:
        return EVERY
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        if run_pass(ctx, uow.session, now):
            notify(uow.session)
        uow.commit()
    return EVERY
