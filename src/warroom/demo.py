"""`warroom demo`: fill a fresh database with a living console in seconds.

Three days of an on-call team's life, played through the real service functions with a
clock that starts three days ago and walks forward to now: incidents of every severity and
status (one restricted), alerts through an integration, an override and a maintenance
window, and the pages that went out. The engine's own timer and delivery jobs run at each
step, so escalations, reminders and the paging ledger are what warroom itself produced.

Pages are delivered to an in-process demo inbox on e-mail and Slack (provider ids
`demo-…`, nothing leaves the machine); SMS, voice and the rest are left unconfigured, so
those fail the way a misconfigured channel fails, and the dashboard's banner shows it.

The people and services come from the configuration (`WARROOM_CONFIG`; `make demo` uses
`examples/`): it needs at least two users and one service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

import warroom.jobs  # noqa: F401  (every event subscriber and timer handler, as the engine has)
from warroom.alerts.logic import Action, AlertEvent, AlertSeverity
from warroom.alerts.models import Alert
from warroom.alerts.routing import route_alerts
from warroom.alerts.service import Source, apply_event
from warroom.auth import service as tokens
from warroom.auth.logic import Principal, Role
from warroom.auth.models import ApiToken
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine import outbox
from warroom.engine.models import Notification, Timer
from warroom.engine.timer_job import TimerRunner
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import EventCreate, IncidentCreate
from warroom.integrations import service as integrations
from warroom.integrations.models import Integration
from warroom.integrations.service import IntegrationType
from warroom.maintenance import service as maintenance
from warroom.maintenance.models import MaintenanceWindow
from warroom.notifications.delivery import Deliverer
from warroom.notifications.ports import OutgoingMessage, SendResult
from warroom.notifications.service import plan_fallback
from warroom.oncall import service as oncall
from warroom.oncall.models import ScheduleOverride
from warroom.oncall.schemas import OverrideCreate

#: What makes a database "not fresh": any of these holds a row.
CONTENT = (Incident, Alert, Notification, ScheduleOverride, MaintenanceWindow, Integration)
_MAX_PASSES = 3000


class NotFresh(Exception):
    """The database already holds incidents, alerts or the like (use force to add anyway)."""


class UnsuitableConfig(Exception):
    """The configuration lacks the people or services the demo needs."""


class DemoInbox:
    """Accepts every message and keeps it in memory: the demo's e-mail and Slack."""

    def __init__(self) -> None:
        self.received = 0

    def send(self, message: OutgoingMessage) -> SendResult:
        self.received += 1
        return SendResult(provider_id=f"demo-{self.received}")


@dataclass
class Summary:
    token: str
    token_name: str
    incidents: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def content_counts(ctx: AppContext) -> dict[str, int]:
    with ctx.db.unit_of_work() as uow:
        return {
            model.__tablename__: int(
                uow.session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in CONTENT
        }


class _Player:
    """Walks the fake clock forward, running the engine's jobs on the way."""

    def __init__(self, ctx: AppContext, clock: FakeClock) -> None:
        self.ctx, self.clock = ctx, clock
        self.timers = TimerRunner()
        self.inbox = DemoInbox()
        self.deliverer = Deliverer(
            {"email": self.inbox, "slack": self.inbox}, fallback=plan_fallback, parallel=2
        )

    def close(self) -> None:
        self.deliverer.close()

    def _pass(self) -> None:
        route_alerts(self.ctx)
        self.timers(self.ctx)
        self.deliverer(self.ctx)

    def _next_due(self) -> datetime | None:
        with self.ctx.db.unit_of_work() as uow:
            timer = uow.session.scalar(
                select(func.min(Timer.due_at)).where(Timer.status == "pending")
            )
            message = uow.session.scalar(
                select(func.min(Notification.next_attempt_at)).where(
                    or_(
                        Notification.status == outbox.PENDING, Notification.status == outbox.SENDING
                    )
                )
            )
        found = [t for t in (timer, message) if t is not None]
        return min(found) if found else None

    def until(self, target: datetime) -> None:
        """Run everything due up to `target`, then stand at `target`."""
        for _ in range(_MAX_PASSES):
            self._pass()
            due = self._next_due()
            if due is None or due > target:
                break
            # Something due now that a pass left (a lease, a retry): move on a minute.
            step = due if due > self.clock.now() else self.clock.now() + timedelta(minutes=1)
            if step > target:
                break
            self.clock.set(step)
        self.clock.set(max(target, self.clock.now()))
        self._pass()


def _check(ctx: AppContext) -> tuple[list[str], list[str]]:
    users = [u.handle for u in ctx.config.users]
    services = [s.name for s in ctx.config.services]
    if len(users) < 2 or not services:
        raise UnsuitableConfig(
            "the demo needs a configuration with at least two users and one service "
            "(WARROOM_CONFIG=examples has them)"
        )
    return users, services


def _pick(names: list[str], wanted: str, fallback: int) -> str:
    return wanted if wanted in names else names[fallback % len(names)]


def run(ctx: AppContext, *, now: datetime, force: bool = False) -> Summary:
    """Fill the database behind `ctx` (already migrated); `now` is where the story ends."""
    users, services = _check(ctx)
    if not force and any(content_counts(ctx).values()):
        raise NotFresh("the database already holds incidents, alerts or the like")
    start = now - timedelta(days=3)
    clock = FakeClock(start)
    story = AppContext(settings=ctx.settings, db=ctx.db, config=ctx.config, clock=clock)
    player = _Player(story, clock)
    try:
        summary = _play(story, player, users, services, now)
    finally:
        player.close()
    summary.counts = content_counts(ctx)
    return summary


def _person(handle: str, role: Role = Role.RESPONDER) -> Principal:
    return Principal(name=handle, role=role, user=handle)


def _play(
    ctx: AppContext, player: _Player, users: list[str], services: list[str], now: datetime
) -> Summary:
    config, clock = ctx.config, player.clock
    jane, bob = _pick(users, "jane.smith", 0), _pick(users, "bob.wilson", 1)
    priya = _pick(users, "priya.patel", 2)
    payments = _pick(services, "payment-service", 0)
    gateway = _pick(services, "api-gateway", 1)
    search = _pick(services, "search", 2)
    database = _pick(services, "database", 3)
    auth = _pick(services, "auth-service", 4)
    types = {t.name for t in config.incident_types}
    severities = [s.name for s in config.severities]

    def sev(rank: int) -> str:
        return severities[min(rank, len(severities)) - 1]

    made: list[str] = []

    def at(when: datetime) -> None:
        player.until(when)

    def declare(who: str, **fields: Any) -> str:
        if fields.get("type") not in types:
            fields.pop("type", None)
        with ctx.db.unit_of_work() as uow:
            incident = incidents.declare(
                uow.session,
                config=config,
                data=IncidentCreate(**fields),
                actor=_person(who),
                now=clock.now(),
            )
            uow.commit()
            made.append(incident.key)
            return incident.key

    def act(key: str, who: str, do: str, **kw: Any) -> None:
        with ctx.db.unit_of_work() as uow:
            actor = _person(who, Role.ADMIN)
            inc = incidents.get(uow.session, key=key, viewer=actor, for_update=True)
            now_ = clock.now()
            if do == "ack":
                incidents.acknowledge(uow.session, incident=inc, actor=actor, now=now_)
            elif do == "status":
                incidents.change_status(
                    uow.session,
                    incident=inc,
                    status=Status(kw["status"]),
                    message=kw.get("message"),
                    public=kw.get("public", False),
                    actor=actor,
                    now=now_,
                )
            elif do == "note":
                incidents.add_event(
                    uow.session,
                    incident=inc,
                    data=EventCreate(type=kw.get("type", "note"), description=kw["text"]),
                    actor=actor,
                    now=now_,
                )
            elif do == "role":
                incidents.assign_role(
                    uow.session,
                    config=config,
                    incident=inc,
                    role=kw["role"],
                    user=kw["user"],
                    actor=actor,
                    now=now_,
                    check=False,
                )
            elif do == "severity":
                incidents.change_severity(
                    uow.session,
                    config=config,
                    incident=inc,
                    severity=kw["severity"],
                    reason=kw["reason"],
                    actor=actor,
                    now=now_,
                )
            uow.commit()

    start = clock.now()
    admin = Principal(name="demo", role=Role.ADMIN, user=jane)

    # Day 1: an integration for the monitoring, and a database failover, long resolved.
    with ctx.db.unit_of_work() as uow:
        hook = uow.session.scalar(
            select(Integration).where(Integration.name == "demo-alertmanager")
        ) or integrations.create(
            uow.session,
            config=config,
            name="demo-alertmanager",
            type=IntegrationType.ALERTMANAGER,
            service=gateway,
            now=clock.now(),
        )
        uow.commit()
        source = Source(integration_id=hook.id, service=hook.service)

    def alert(
        key: str, summary: str, severity: AlertSeverity, action: Action = Action.TRIGGER
    ) -> None:
        with ctx.db.unit_of_work() as uow:
            apply_event(
                uow.session,
                source=source,
                event=AlertEvent(
                    action=action,
                    dedup_key=key,
                    summary=summary,
                    severity=severity,
                    source="prometheus",
                    component=gateway,
                    labels={"alertname": key, "env": "production"},
                    payload={"alertname": key, "summary": summary},
                ),
                now=clock.now(),
            )
            uow.commit()

    at(start + timedelta(hours=2))
    old = declare(jane, title="Primary database failover", severity=sev(2), services=[database],
                  type="service_outage", commander=jane)  # fmt: skip
    at(clock.now() + timedelta(minutes=3))
    act(old, jane, "ack")
    act(old, jane, "status", status="identified", message="Replica lag after a failover.")
    at(clock.now() + timedelta(minutes=40))
    act(old, jane, "status", status="monitoring", message="Replica caught up.", public=True)
    at(clock.now() + timedelta(minutes=50))
    act(old, jane, "status", status="resolved", message="Stable for 45 minutes.", public=True)
    at(clock.now() + timedelta(hours=20))
    act(old, jane, "status", status="closed")

    # Day 2: a small one, resolved the same afternoon; an override for tomorrow.
    at(start + timedelta(days=1, hours=5))
    small = declare(bob, title="Search results lag behind the catalogue", severity=sev(4),
                    services=[search], type="performance_degradation")  # fmt: skip
    act(small, bob, "ack")
    at(clock.now() + timedelta(hours=3))
    act(small, bob, "status", status="resolved", message="Reindex finished.")
    with ctx.db.unit_of_work() as uow:
        schedules = oncall.list_schedules(uow.session, config=config)
        if schedules:
            first = schedules[0]
            oncall.create_override(
                uow.session,
                config=config,
                schedule=first.name,
                data=OverrideCreate(
                    kind="replace" if len(first.spec.layers[0].participants) else "add",
                    start=now + timedelta(hours=6),
                    end=now + timedelta(hours=30),
                    user=bob,
                    replaces=jane if jane in first.spec.layers[0].participants else None,
                    layer=first.spec.layers[0].name,
                    reason="Jane at a conference",
                ),
                actor=admin,
                now=clock.now(),
            )
        maintenance.create(
            uow.session,
            config=config,
            service=search,
            starts_at=now + timedelta(hours=20),
            ends_at=now + timedelta(hours=22),
            reason="Search cluster upgrade",
            actor=admin,
            now=clock.now(),
        )
        uow.commit()

    # Today: alerts, then the incidents still open.
    at(now - timedelta(hours=3))
    alert("HighLatency", f"p95 latency above 800 ms on {gateway}", AlertSeverity.WARNING)
    degraded = declare(priya, title=f"Elevated 5xx on {gateway}", severity=sev(3),
                       services=[gateway], type="performance_degradation")  # fmt: skip
    at(clock.now() + timedelta(minutes=6))
    act(degraded, priya, "ack")
    act(degraded, priya, "status", status="monitoring", message="Rolled back the 14:02 deploy.")
    at(now - timedelta(hours=1, minutes=20))
    secret = declare(bob, title="Suspicious admin logins from an unknown network",
                     severity=sev(1), services=[auth], type="security_breach",
                     restricted=True, commander=bob)  # fmt: skip
    act(secret, bob, "ack")
    act(secret, bob, "note", type="investigation", text="Sessions from 3 addresses revoked.")
    at(now - timedelta(minutes=45))
    alert("CheckoutErrors", f"checkout error rate 23% on {payments}", AlertSeverity.CRITICAL)
    alert("HighLatency", f"p95 latency above 800 ms on {gateway}", AlertSeverity.WARNING,
          Action.RESOLVE)  # fmt: skip
    major = declare(jane, title="Checkout failing: card payments time out", severity=sev(2),
                    services=[payments, gateway], type="service_outage",
                    description="Card payments time out after 30 s; PayPal works.")  # fmt: skip
    at(clock.now() + timedelta(minutes=4))
    act(major, jane, "ack")
    if "incident_commander" in config.roles:
        act(major, jane, "role", role="incident_commander", user=jane)
    act(major, jane, "severity", severity=sev(1), reason="Every card payment fails.")
    act(major, jane, "status", status="identified", public=True,
        message="Card payments fail; we have found the cause and are fixing it.")  # fmt: skip
    act(major, jane, "note", type="decision", text="Fail over to the secondary card processor.")
    at(now - timedelta(minutes=12))
    declare(priya, title=f"Login emails delayed ({auth})", severity=sev(3),
                    services=[auth])  # fmt: skip
    at(now)

    with ctx.db.unit_of_work() as uow:
        name = "demo"
        taken = set(uow.session.scalars(select(ApiToken.name)))
        suffix = 1
        while name in taken:
            suffix += 1
            name = f"demo-{suffix}"
        _, value = tokens.create(uow.session, name=name, role=Role.ADMIN, user=jane, now=now)
        uow.commit()
    return Summary(token=value, token_name=name, incidents=made)
