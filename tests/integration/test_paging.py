"""Paging, escalation, SLA clocks and update reminders, end to end — GoAlert-style.

The engine (timer and delivery jobs) runs against a fake clock; real local servers stand
in for SMTP, Twilio and Slack. Each scenario triggers, fast-forwards, and expects exactly
the messages the example configuration says — failing on any message not expected.

Who is who at the fake clock's start (Friday 2024-03-15 09:30 UTC), from the examples:
the `platform` schedule has tom.nguyen as primary and priya.patel as secondary,
`EM_ONCALL` has sarah.chen. payment-service pages along `platform-oncall` (primary,
then secondary after 10 minutes, then the Engineering Manager after 10 more; once more
from the top; acknowledgement timeout 30 minutes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, or_, select

from tests.conftest import Tokens
from warroom.adapters.registry import NotifierRegistry, build_notifiers
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.authority import Staffing
from warroom.config.escalation import EscalationPolicy
from warroom.config.oncall import Schedule
from warroom.config.schema import WarroomConfig
from warroom.configuration import validate_path
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine import outbox
from warroom.engine.models import Notification, Timer
from warroom.engine.timer_job import TimerRunner
from warroom.escalation.paging import policy_for
from warroom.notifications.delivery import Deliverer
from warroom.notifications.service import plan_fallback
from warroom.settings import Settings
from warroom.testing.providers import FakeSlack, FakeTwilio
from warroom.testing.recording import Expected
from warroom.testing.smtp import FakeSmtp

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
SECRET = "paging-test-secret-key-0123456789abcdef"

PHONES = {
    "tom.nguyen": "+15550115",
    "priya.patel": "+15550114",
    "sarah.chen": "+15550101",
    "marcus.johnson": "+15550102",
    "alex.rivera": "+15550103",
    "lena.kovacs": "+15550116",
    "mike.chen": "+15550112",
    "diego.alvarez": "+15550117",
    "sarah.lee": "+15550113",
    "CEO": "+15550100",
    "CFO": "+15550104",
    "Legal": "+15550105",
}
HANDLES = [
    "jane.smith",
    "bob.wilson",
    "mike.chen",
    "sarah.lee",
    "priya.patel",
    "tom.nguyen",
    "lena.kovacs",
    "diego.alvarez",
    "sarah.chen",
    "marcus.johnson",
    "alex.rivera",
]
SLACK_IDS = {h: "U" + re.sub(r"[^A-Z]", "", h.upper()) for h in HANDLES}


# --- expectations -----------------------------------------------------------------------


def email(who: str, *fragments: str) -> Expected:
    address = who if "@" in who else f"{who}@example.com"
    return (address, *fragments)


def sms(who: str, *fragments: str) -> Expected:
    return (PHONES[who], "[SEV", *fragments)


def call(who: str, *fragments: str) -> Expected:
    return (PHONES[who], "This is warroom", *fragments)


def dm(who: str, *fragments: str) -> Expected:
    return (SLACK_IDS[who], *fragments)


# --- the harness --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    users = [{"id": SLACK_IDS[h], "name": h, "email": f"{h}@example.com"} for h in HANDLES]
    with FakeSlack(users=users) as server:
        yield server


@dataclass
class Harness:
    ctx: AppContext
    clock: FakeClock
    api: TestClient
    tokens: Tokens
    smtp: FakeSmtp
    twilio: FakeTwilio
    slack: FakeSlack
    timers: TimerRunner
    deliverer: Deliverer

    # --- the engine ---

    def run(self) -> None:
        """Run timer and delivery passes until nothing is due at the current fake time."""
        for _ in range(100):
            self.timers(self.ctx)
            self.deliverer(self.ctx)
            if not self._due():
                return
        raise AssertionError("the engine did not settle")

    def _due(self) -> int:
        now = self.clock.now()
        with self.ctx.db.unit_of_work() as uow:
            timers = uow.session.scalar(
                select(func.count())
                .select_from(Timer)
                .where(Timer.status == "pending", Timer.due_at <= now)
            )
            messages = uow.session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    or_(
                        (Notification.status == outbox.PENDING)
                        & (Notification.next_attempt_at <= now),
                        (Notification.status == outbox.SENDING) & (Notification.lease_until < now),
                    )
                )
            )
        return int(timers or 0) + int(messages or 0)

    def at(self, minutes: float) -> None:
        """Fast-forward to T0 + `minutes`, running the engine at every minute on the way."""
        target = T0 + timedelta(minutes=minutes)
        assert target >= self.clock.now(), "time only moves forward"
        while self.clock.now() < target:
            step = min(timedelta(minutes=1), target - self.clock.now())
            self.clock.advance(step)
            self.run()

    def advance(self, **kwargs: float) -> None:
        self.clock.advance(timedelta(**kwargs))
        self.run()

    # --- expectations ---

    def expect(
        self,
        *,
        email: tuple[Expected, ...] = (),
        phone: tuple[Expected, ...] = (),
        slack: tuple[Expected, ...] = (),
    ) -> None:
        """Exactly these messages since the last check, on every provider."""
        self.smtp.expect_exactly(*email, timeout=2.0)
        self.twilio.expect_exactly(*phone, timeout=2.0)
        self.slack.expect_exactly(*slack, timeout=2.0)

    def expect_nothing(self) -> None:
        self.expect()

    # --- the API ---

    def as_(self, token: str) -> TestClient:
        self.api.headers["Authorization"] = f"Bearer {token}"
        return self.api

    def declare(self, severity: str = "SEV1", service: str = "payment-service", **more: Any) -> str:
        body = {"title": "Checkout is failing", "severity": severity, "services": [service], **more}
        response = self.as_(self.tokens.responder).post("/api/v1/incidents", json=body)
        assert response.status_code == 201, response.text
        self.run()
        return str(response.json()["id"])

    def post(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        response = self.as_(token or self.tokens.responder).post(path, json=body or {})
        assert response.status_code < 300, response.text
        self.run()
        return response.json()

    def ack(self, key: str, token: str | None = None) -> None:
        self.post(f"/api/v1/incidents/{key}/ack", token=token or self.tokens.jane)

    def resolve(self, key: str) -> None:
        self.post(f"/api/v1/incidents/{key}/status", {"status": "resolved"})

    def timeline(self, key: str) -> list[dict[str, Any]]:
        response = self.as_(self.tokens.viewer).get(f"/api/v1/incidents/{key}/timeline")
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def automation(self, key: str) -> list[tuple[datetime, str]]:
        """The timeline lines warroom wrote by itself, with their times."""
        return [
            (datetime.fromisoformat(e["timestamp"]), e["description"])
            for e in self.timeline(key)
            if e["source"] == "automation"
        ]


def settings_for(db: Database, smtp: FakeSmtp, twilio: FakeTwilio, slack: FakeSlack) -> Settings:
    return Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        base_url="http://warroom.test",
        secret_key=SECRET,  # type: ignore[arg-type]
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="warroom@example.com",
        smtp_starttls=False,
        twilio_base_url=twilio.url,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,  # type: ignore[arg-type]
        twilio_from_number="+15550000",
        slack_base_url=slack.url,
        slack_token=slack.token,  # type: ignore[arg-type]
    )


def without_ack_timeout(config: WarroomConfig) -> WarroomConfig:
    policies = [p.model_copy(update={"ack_timeout": None}) for p in config.escalation_policies]
    return config.model_copy(update={"escalation_policies": policies})


@pytest.fixture
def make_harness(
    db: Database,
    config: WarroomConfig,
    clock: FakeClock,
    api_tokens: Tokens,
    smtp: FakeSmtp,
    twilio: FakeTwilio,
    slack: FakeSlack,
) -> Iterator[Any]:
    made: list[tuple[TestClient, Deliverer, NotifierRegistry]] = []

    def make(variant: WarroomConfig | None = None, *, staffing: bool = False) -> Harness:
        settings = settings_for(db, smtp, twilio, slack)
        chosen = variant or config
        if not staffing:
            # Reminders about empty required roles have their own tests (test_authority_api).
            quiet = chosen.authority.model_copy(update={"staffing": Staffing(enabled=False)})
            chosen = chosen.model_copy(update={"authority": quiet})
        ctx = AppContext(settings=settings, db=db, config=chosen, clock=clock)
        registry = build_notifiers(settings, timeout=5.0)
        # Teams and webhooks would leave this machine: they stay unconfigured, so a message
        # for them fails for good and falls back to the person's next method.
        channels = {c: registry[c] for c in ("email", "sms", "voice", "slack")}
        deliverer = Deliverer(channels, fallback=plan_fallback, parallel=4)
        client = TestClient(create_app(ctx))
        client.__enter__()
        made.append((client, deliverer, registry))
        for fake in (smtp, twilio, slack):
            fake.clear()
            assert fake.is_up
        return Harness(
            ctx, clock, client, api_tokens, smtp, twilio, slack, TimerRunner(), deliverer
        )

    yield make
    for client, deliverer, registry in made:
        client.__exit__(None, None, None)
        deliverer.close()
        registry.close()


@pytest.fixture
def h(make_harness: Any, config: WarroomConfig) -> Harness:
    """The examples as they stand, except that an acknowledgement does not time out."""
    harness: Harness = make_harness(without_ack_timeout(config))
    return harness


@pytest.fixture
def h_as_configured(make_harness: Any) -> Harness:
    harness: Harness = make_harness()
    return harness


# --- the on-call chain ------------------------------------------------------------------


def test_the_chain_pages_primary_then_secondary_until_acknowledged(h: Harness) -> None:
    key = h.declare("SEV1")
    # The primary's contact plan (high urgency defaults): email and Slack now...
    h.expect(email=(email("tom.nguyen", "[SEV1] INCIDENT: Checkout is failing"),),
             slack=(dm("tom.nguyen", "INCIDENT"),))  # fmt: skip
    h.at(1)
    h.expect(phone=(sms("tom.nguyen", "INCIDENT"),))  # ...a text after 1 minute...
    h.at(3)
    h.expect(phone=(call("tom.nguyen", "You are paged"),))  # ...a call after 3.
    h.at(9)
    h.expect_nothing()
    # Unresponsive for 10 minutes: the secondary.
    h.at(10)
    h.expect(email=(email("priya.patel", "ESCALATION"),), slack=(dm("priya.patel"),))
    h.ack(key)
    # Nothing more ever pages: the secondary's text and call were cancelled.
    h.at(29)
    h.expect_nothing()
    # What remains is the escalation matrix and the SLA clocks (asserted on their own
    # below): the EM on-call by phone at 30 minutes...
    h.at(30)
    h.expect(phone=(call("sarah.chen", "Escalation"),))
    # ...the mitigation SLA at risk (48 min): "SLA breach imminent" → Slack...
    h.at(48)
    h.expect(slack=(("#account-management", "ESCALATION"), dm("sarah.lee", "ESCALATION")))
    # ...and at 60 minutes the mitigation SLA breach (to the policy's last step, the EM
    # on call, at low urgency), the director by phone, and the IC's "duration exceeds 60
    # minutes" trigger (the director's contact plan, low urgency).
    h.at(60)
    h.expect(
        email=(email("sarah.chen", "[SEV1] SLA"), email("sarah.chen", "[SEV1] ESCALATION")),
        phone=(call("sarah.chen", "Escalation"),),
        slack=(dm("sarah.chen", "SLA"), dm("sarah.chen", "ESCALATION")),
    )
    h.at(90)
    h.expect(phone=(call("marcus.johnson", "Escalation"),))
    h.at(130)
    h.expect_nothing()
    paged = [text for _, text in h.automation(key) if text.startswith("Paged")]
    assert paged == [
        "Paged tom.nguyen (step 1, via schedule platform, layer primary)",
        "Paged priya.patel (step 2, via schedule platform, layer secondary)",
    ]


def test_repeat_loops_then_the_policy_is_exhausted(h: Harness) -> None:
    key = h.declare("SEV3")  # SEV3 pages at low urgency: email and Slack only
    h.expect(email=(email("tom.nguyen", "[SEV3] INCIDENT"),), slack=(dm("tom.nguyen"),))
    for minute, who in (
        (10, "priya.patel"),
        (20, "sarah.chen"),
        (30, "tom.nguyen"),  # repeat: once more from the top
        (40, "priya.patel"),
        (50, "sarah.chen"),
    ):
        h.at(minute - 1)
        h.expect_nothing()
        h.at(minute)
        h.expect(email=(email(who),), slack=(dm(who),))
    h.at(125)
    h.expect_nothing()
    lines = [(t - T0, text) for t, text in h.automation(key) if not text.startswith("Update")]
    primary, secondary = "schedule platform, layer primary", "schedule platform, layer secondary"
    assert lines == [
        (timedelta(0), f"Paged tom.nguyen (step 1, via {primary})"),
        (timedelta(minutes=10), f"Paged priya.patel (step 2, via {secondary})"),
        (timedelta(minutes=20), "Paged sarah.chen (step 3, via schedule EM_ONCALL)"),
        (timedelta(minutes=30), f"Paged tom.nguyen (step 1, repeat 1 of 1, via {primary})"),
        (timedelta(minutes=40), f"Paged priya.patel (step 2, repeat 1 of 1, via {secondary})"),
        (timedelta(minutes=50), "Paged sarah.chen (step 3, repeat 1 of 1, via schedule EM_ONCALL)"),
        (
            timedelta(minutes=60),
            "Escalation policy Platform on-call chain exhausted: nobody acknowledged after "
            "2 passes through its 3 steps",
        ),
    ]


def ack_link(text: str) -> str:
    match = re.search(r"http://warroom\.test(/ack/[A-Za-z0-9_.-]+)", text)
    assert match, f"no acknowledge link in {text!r}"
    return match.group(1)


def test_an_acknowledgement_that_times_out_pages_again(h_as_configured: Harness) -> None:
    h = h_as_configured
    key = h.declare("SEV3")
    h.expect(email=(email("tom.nguyen"),), slack=(dm("tom.nguyen"),))
    h.at(2)
    h.ack(key)
    h.at(31)
    h.expect_nothing()
    # 30 minutes after the acknowledgement the incident is still open: a new round.
    h.at(32)
    [page] = h.smtp.expect_exactly(email("tom.nguyen", "INCIDENT"), timeout=2.0)
    h.expect(slack=(dm("tom.nguyen"),))
    # The new page's link acknowledges that round (the incident stays acknowledged
    # since 09:32: MTTA is not rewritten).
    h.at(35)
    answer = h.api.post(ack_link(page.text))
    assert answer.status_code == 200 and "paging has stopped" in answer.text
    h.run()
    h.at(64)
    h.expect_nothing()  # the secondary was not paged at 42
    # ...and that acknowledgement times out in turn.
    h.at(65)
    h.expect(email=(email("tom.nguyen"),), slack=(dm("tom.nguyen"),))
    h.resolve(key)
    h.at(130)
    h.expect_nothing()
    lines = [(t - T0, text) for t, text in h.automation(key) if not text.startswith("Update")]
    assert [(d, text) for d, text in lines if "timed out" in text] == [
        (
            timedelta(minutes=32),
            "Acknowledgement timed out: not resolved 30 minutes after it was acknowledged; "
            "paging again (round 2)",
        ),
        (
            timedelta(minutes=65),
            "Acknowledgement timed out: not resolved 30 minutes after it was acknowledged; "
            "paging again (round 3)",
        ),
    ]
    acks = [
        (e["timestamp"], e["description"])
        for e in h.timeline(key)
        if e["type"] == "acknowledgement"
    ]
    assert acks == [
        ("2024-03-15T09:32:00Z", "Acknowledged by jane.smith"),
        ("2024-03-15T10:05:00Z", "Page acknowledged by tom.nguyen: paging stopped (round 2)"),
    ]
    incident = h.as_(h.tokens.viewer).get(f"/api/v1/incidents/{key}").json()
    assert incident["acknowledged_at"] == "2024-03-15T09:32:00Z"


def test_an_override_changes_who_is_paged(h: Harness) -> None:
    override = {
        "kind": "replace",
        "layer": "primary",
        "user": "diego.alvarez",
        "start": (T0 - timedelta(hours=1)).isoformat(),
        "end": (T0 + timedelta(hours=1)).isoformat(),
        "reason": "swap with tom",
    }
    h.post("/api/v1/schedules/platform/overrides", override, token=h.tokens.admin)
    h.declare("SEV3")
    h.expect(email=(email("diego.alvarez"),), slack=(dm("diego.alvarez"),))
    h.at(10)
    h.expect(email=(email("priya.patel"),), slack=(dm("priya.patel"),))


def with_new_york_nights(config: WarroomConfig) -> WarroomConfig:
    """A daily 02:30 handoff in New York for the search service."""
    schedule = Schedule.model_validate(
        {
            "name": "nyc-nights",
            "time_zone": "America/New_York",
            "layers": [
                {
                    "name": "nights",
                    "rotation": "daily",
                    "handoff_time": "02:30",
                    "start": "2025-03-01",
                    "participants": ["mike.chen", "diego.alvarez"],
                }
            ],
        }
    )
    policy = EscalationPolicy.model_validate(
        {
            "name": "nyc",
            "steps": [
                {"delay": "10 minutes", "targets": [{"type": "schedule", "name": "nyc-nights"}]}
            ],
        }
    )
    services = [
        s.model_copy(update={"escalation_policy": "nyc"}) if s.name == "search" else s
        for s in config.services
    ]
    return config.model_copy(
        update={
            "schedules": [*config.schedules, schedule],
            "escalation_policies": [*config.escalation_policies, policy],
            "services": services,
        }
    )


def test_a_page_in_the_night_clocks_spring_forward_goes_to_the_right_person(
    make_harness: Any, config: WarroomConfig
) -> None:
    h: Harness = make_harness(with_new_york_nights(config))
    # 2025-03-09: New York springs from 02:00 EST to 03:00 EDT. The 02:30 handoff does not
    # exist that night; it happens when the clocks jump, 03:00 EDT = 07:00 UTC — not at
    # 07:30 UTC, where 24-hour turns counted in UTC would put it.
    h.clock.set(datetime(2025, 3, 9, 6, 45, tzinfo=UTC))  # 01:45 EST
    h.declare("SEV3", service="search")
    h.expect(email=(email("diego.alvarez"),), slack=(dm("diego.alvarez"),))
    h.advance(minutes=20)  # 07:05 UTC, 03:05 EDT: the handoff has happened
    h.declare("SEV3", service="search")
    h.expect(email=(email("mike.chen"),), slack=(dm("mike.chen"),))


def test_a_provider_outage_delays_only_its_own_messages(h: Harness) -> None:
    h.slack.down()
    try:
        key = h.declare("SEV1")
        # Slack is down: the email goes at once all the same.
        h.expect(email=(email("tom.nguyen"),))
        h.advance(seconds=10)  # the first retry, 10 s later, fails too
        h.expect_nothing()
    finally:
        h.slack.up()
    h.advance(seconds=19)
    h.expect_nothing()  # backing off: the next try is 20 s after the second
    h.advance(seconds=1)
    h.expect(slack=(dm("tom.nguyen", "INCIDENT"),))
    # Twilio refuses the text for good (400): the page goes by the next method instead.
    h.twilio.fail_next(1, status=400)
    h.at(1)
    h.expect(email=(email("tom.nguyen", "INCIDENT"),))
    h.at(3)
    h.expect(phone=(call("tom.nguyen"),))
    with h.ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Notification.channel, Notification.status, Notification.attempts)
            .where(Notification.recipient == "tom.nguyen")
            .order_by(Notification.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("email", "sent", 1),
        ("slack", "sent", 3),
        ("sms", "failed", 1),
        ("voice", "sent", 1),
        ("email", "sent", 1),  # the fallback of the text
    ]
    assert key


def test_time_based_escalation_stops_once_resolved(h: Harness) -> None:
    key = h.declare("SEV1")
    h.ack(key)
    h.expect(email=(email("tom.nguyen"),), slack=(dm("tom.nguyen"),))
    h.at(30)
    h.expect(phone=(call("sarah.chen", "Escalation"),))
    h.at(45)
    h.resolve(key)
    h.at(120)
    # No Director at 60, no VP at 90: only the postmortem review invitation that resolving
    # a SEV1 sends to its participants (docs/postmortems.md): the commander and the two
    # people paged, who became participants when they were paged.
    h.expect(
        email=(
            email("jane.smith", "Postmortem review"),
            email("tom.nguyen", "Postmortem review"),
            email("sarah.chen", "Postmortem review"),
        )
    )
    escalated = [t - T0 for t, text in h.automation(key) if text.startswith("Escalated")]
    assert escalated == [timedelta(minutes=30)]


def test_impact_escalates_at_once(h: Harness) -> None:
    key = h.declare("SEV1")
    h.ack(key)
    h.expect(email=(email("tom.nguyen"),), slack=(dm("tom.nguyen"),))
    h.at(2)
    h.post(f"/api/v1/incidents/{key}/impact", {"customer_data_exposed": True})
    # The matrix: CISO, Legal and the CEO by phone, immediately. The IC's trigger: the
    # security team and Legal, through their contact plans at high urgency (Legal's card:
    # every address on file).
    h.expect(
        phone=(call("alex.rivera"), call("Legal"), call("CEO"), call("Legal")),
        email=(email("lena.kovacs"), email("alex.rivera"), email("legal@example.com")),
        slack=(dm("lena.kovacs", "ESCALATION"), dm("alex.rivera", "ESCALATION")),
    )
    h.at(3)
    h.expect(phone=(sms("lena.kovacs"), sms("alex.rivera")))
    h.at(5)
    h.expect(phone=(call("lena.kovacs"), call("alex.rivera")))
    h.post(f"/api/v1/incidents/{key}/impact", {"revenue_loss": 60000})
    # The matrix: the VP and the CFO by phone. The IC's "revenue impact exceeds $10,000":
    # the VP and Finance, low urgency (the VP's plan: email).
    h.expect(
        phone=(call("marcus.johnson"), call("CFO")),
        email=(email("marcus.johnson"), email("finance@example.com")),
    )
    # Each fires once per incident.
    h.post(f"/api/v1/incidents/{key}/impact", {"revenue_loss": 90000})
    h.expect_nothing()
    lines = [text for _, text in h.automation(key) if text.startswith("Escalated")]
    assert lines == [
        "Escalated to CISO (alex.rivera), Legal (Legal on call), CEO (Chief Executive "
        "Officer) by phone: Customer data exposed (customer_data_exposed)",
        "Escalated to Security team (lena.kovacs, alex.rivera), Legal (Legal on call): "
        "Customer data potentially exposed (customer_data_exposed)",
        "Escalated to VP of Engineering (marcus.johnson), CFO (Chief Financial Officer) by "
        "phone: Revenue loss exceeds $50,000 (revenue_loss $60,000 > $50,000)",
        "Escalated to VP of Engineering (marcus.johnson), Finance: Revenue impact exceeds "
        "$10,000 (revenue_loss $60,000 > $10,000)",
    ]


def test_sla_clocks_put_their_warnings_and_breaches_on_the_timeline(h: Harness) -> None:
    """SEV1 (seed 002): acknowledge within 15 minutes, mitigate within 1 hour. The pages and
    escalations that go with them are the other scenarios' subject."""
    key = h.declare("SEV1")
    h.at(16)
    h.ack(key)
    h.post(f"/api/v1/incidents/{key}/status", {"status": "monitoring"}, token=h.tokens.jane)
    h.at(250)
    sla = [(t - T0, text) for t, text in h.automation(key) if text.startswith("SLA")]
    assert sla == [
        (timedelta(minutes=12), "SLA at risk: acknowledge within 15 minutes (3 minutes left)"),
        (timedelta(minutes=15), "SLA breached: acknowledge within 15 minutes"),
        # Mitigated at 16 minutes: the mitigation clock stopped; resolution runs on.
        (timedelta(minutes=192), "SLA at risk: resolve within 4 hours (48 minutes left)"),
        (timedelta(minutes=240), "SLA breached: resolve within 4 hours"),
    ]


def test_the_communications_lead_is_reminded_at_the_cadence(h: Harness) -> None:
    key = h.declare("SEV1")
    h.ack(key)
    h.expect(email=(email("tom.nguyen"),), slack=(dm("tom.nguyen"),))
    response = h.as_(h.tokens.responder).put(
        f"/api/v1/incidents/{key}/roles/communications_lead", json={"user": "sarah.lee"}
    )
    assert response.status_code == 200, response.text
    h.at(14)
    h.expect_nothing()
    h.at(15)  # SEV1: every 15 minutes
    h.expect(email=(email("sarah.lee", "UPDATE DUE"),), slack=(dm("sarah.lee", "UPDATE DUE"),))
    h.at(30)
    h.expect(
        email=(email("sarah.lee", "UPDATE DUE"),),
        slack=(dm("sarah.lee", "UPDATE DUE"),),
        phone=(call("sarah.chen", "Escalation"),),  # the matrix's 30-minute rule
    )
    h.at(35)
    h.post(
        f"/api/v1/incidents/{key}/status",
        {"status": "identified", "message": "A bad deploy", "public": True},
    )
    h.at(47)
    h.expect_nothing()  # no reminder at 45: the public update reset the clock
    h.at(48)  # the mitigation SLA at risk: "SLA breach imminent"
    h.expect(slack=(("#account-management",), dm("sarah.lee", "ESCALATION")))
    h.at(50)
    h.expect(email=(email("sarah.lee", "UPDATE DUE"),), slack=(dm("sarah.lee", "UPDATE DUE"),))
    # A communication on the timeline resets it too.
    h.post(
        f"/api/v1/incidents/{key}/events",
        {"type": "communication", "description": "Customers emailed"},
    )
    h.at(59)
    h.expect_nothing()
    reminders = [t - T0 for t, text in h.automation(key) if text.startswith("Update due")]
    assert reminders == [timedelta(minutes=m) for m in (15, 30, 50)]


def test_an_upgrade_fires_what_is_past_due_at_once(h: Harness) -> None:
    key = h.declare("SEV3")
    h.ack(key)
    h.expect(email=(email("tom.nguyen"),), slack=(dm("tom.nguyen"),))
    h.at(45)
    h.expect_nothing()  # SEV3 has no time-based escalation
    h.post(
        f"/api/v1/incidents/{key}/severity",
        {"severity": "SEV1", "reason": "Checkout down for everyone"},
    )
    # SEV1's 30-minute rule is 15 minutes past due: at once.
    h.expect(phone=(call("sarah.chen", "Escalation"),))
    h.at(47)
    h.expect_nothing()
    h.at(48)
    h.expect(slack=(("#account-management",), dm("sarah.lee")))
    h.at(60)
    h.expect(
        email=(email("sarah.chen", "SLA"), email("sarah.chen", "ESCALATION")),
        phone=(call("sarah.chen", "Escalation"),),
        slack=(dm("sarah.chen", "SLA"), dm("sarah.chen", "ESCALATION")),
    )
    first = next((t - T0, text) for t, text in h.automation(key) if text.startswith("Escalated"))
    assert first == (
        timedelta(minutes=45),
        "Escalated to Engineering Manager on-call (sarah.chen) by phone: 30 minutes without "
        "resolution (unresolved 45 minutes after declaration)",
    )


def test_the_acknowledge_link(h: Harness) -> None:
    key = h.declare("SEV3")
    [mail] = h.smtp.expect_exactly(email("tom.nguyen"), timeout=2.0)
    [chat] = h.slack.expect_exactly(dm("tom.nguyen"), timeout=2.0)
    link = ack_link(mail.text)
    assert ack_link(chat.text) != ""  # Slack's Acknowledge button carries one too
    page = h.api.get(link)
    assert page.status_code == 200
    assert "Acknowledge as tom.nguyen" in page.text and "Checkout is failing" in page.text
    assert page.headers["cache-control"] == "no-store"
    incident = h.as_(h.tokens.viewer).get(f"/api/v1/incidents/{key}").json()
    assert incident["acknowledged_at"] is None  # looking is not acknowledging
    done = h.api.post(link)
    assert done.status_code == 200 and "Acknowledged by tom.nguyen" in done.text
    h.run()
    incident = h.as_(h.tokens.viewer).get(f"/api/v1/incidents/{key}").json()
    assert incident["acknowledged_at"] == "2024-03-15T09:30:00Z"
    assert "tom.nguyen" in incident["participants"]
    h.at(20)
    h.expect_nothing()  # the secondary is never paged
    again = h.api.get(link)
    assert again.status_code == 200 and "Already acknowledged" in again.text
    body, tag = link.removeprefix("/ack/").split(".")
    forged = h.api.get(f"/ack/{body}.{'A' * len(tag)}")
    assert forged.status_code == 403 and "Invalid link" in forged.text
    assert h.api.get("/ack/not-a-token").status_code == 400
    h.advance(hours=24)
    expired = h.api.post(link)
    assert expired.status_code == 403 and "expired" in expired.text


def test_policy_and_paging_routes(h: Harness) -> None:
    viewer = h.as_(h.tokens.viewer)
    policies = {p["name"]: p for p in viewer.get("/api/v1/escalation-policies").json()}
    assert set(policies) == {
        "on-call-chain",
        "platform-oncall",
        "api-follow-the-sun",
        "security-oncall",
    }
    assert policies["on-call-chain"]["default"] and policies["on-call-chain"]["services"] == []
    assert policies["platform-oncall"]["services"] == [
        "api-gateway",
        "auth-service",
        "payment-service",
        "search",
        "web-app",
        "database",
    ]
    assert [s["delay_seconds"] for s in policies["platform-oncall"]["steps"]] == [600] * 3
    assert viewer.get("/api/v1/escalation-policies/nope").status_code == 404
    key = h.declare("SEV2")
    paging = viewer.get(f"/api/v1/incidents/{key}/paging").json()
    assert (paging["policy"], paging["round"], paging["paging"]) == ("platform-oncall", 1, True)
    kinds = {t["kind"] for t in paging["pending"]}
    assert kinds >= {"escalate", "sla_warning", "sla_breach", "update_due", "matrix"}
    stopped = h.post(f"/api/v1/incidents/{key}/paging/ack", token=h.tokens.jane)
    assert (stopped["result"], stopped["paging"]) == ("acknowledged", False)


# --- paging by incident type ------------------------------------------------------------


@pytest.mark.parametrize(
    ("incident_type", "expected"),
    [
        ("security_breach", "security-oncall"),
        ("data_privacy", "security-oncall"),
        ("service_outage", "platform-oncall"),
        (None, "platform-oncall"),
        ("no-such-type", "platform-oncall"),
    ],
)
def test_the_type_chooses_the_policy_before_the_services(
    config: WarroomConfig, incident_type: str | None, expected: str
) -> None:
    policy = policy_for(config, ["payment-service"], incident_type)
    assert policy is not None and policy.name == expected


def test_a_security_breach_pages_the_security_team(h: Harness) -> None:
    key = h.declare("SEV1", service="payment-service", type="security_breach")
    # Every member of the security team, by their high-urgency plans; the platform
    # primary on-call (tom.nguyen) gets nothing.
    h.expect(
        email=(email("lena.kovacs", "INCIDENT"), email("alex.rivera", "INCIDENT")),
        slack=(dm("lena.kovacs", "INCIDENT"), dm("alex.rivera", "INCIDENT")),
    )
    paging = h.as_(h.tokens.admin).get(f"/api/v1/incidents/{key}/paging").json()
    assert paging["policy"] == "security-oncall"


def test_an_unknown_policy_on_a_type_is_a_configuration_problem(tmp_path: Path) -> None:
    (tmp_path / "types.yaml").write_text(
        "incident_types:\n  - name: breach\n    title: Breach\n    escalation_policy: nope\n"
    )
    (problem,) = validate_path(tmp_path)
    assert (problem.line, problem.field) == (4, "incident_types.0.escalation_policy")
    assert problem.message == "unknown escalation policy 'nope'"
