"""Escalation decisions as pure functions: policies, where paging goes next, which matrix
rules hold, and the signed acknowledge links. No database, no clock reads, no network.

Paging (the state machine)
--------------------------
A policy is ordered steps, each with targets and a `delay`; `repeat` more passes follow
the first (PagerDuty's num_loops). A *round* pages along the policy from step 1:

    step 1 (loop 0) ──delay──► step 2 ──delay──► … step N ──delay──► step 1 (loop 1) …
    … step N (last loop) ──delay──► exhausted

An acknowledgement ends the round. With `ack_timeout`, a new round starts that long
after the acknowledgement if the incident is still not resolved; rounds are numbered so
that the pages of a new round are new pages. Resolving ends everything.

Where paging stands is a `Position` (round, step, loop); `next_position` says what
follows it, `paging_plan` lists every page of an unacknowledged round.

Rules
-----
`rule_holds(rule, facts, now)` says why an escalation rule (warroom.escalation.matrix)
holds for an incident described by `IncidentFacts`, or None.

Acknowledge links
-----------------
`sign_ack_token` makes a URL-safe token: the incident, the user and an expiry, with an
HMAC-SHA256 tag (128 bits) keyed by the server's secret; `read_ack_token` checks it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from warroom.escalation.matrix import PLAN, ConditionKind, Delivery, Rule

if TYPE_CHECKING:
    from warroom.config.escalation import EscalationPolicy
    from warroom.escalation.matrix import ChainStep

Urgency = Literal["high", "low"]

#: The policy the matrix's on-call chain becomes (a configured policy of that name wins).
CHAIN_POLICY = "on-call-chain"


# --- policies ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepTarget:
    """user | schedule | team | channel | role as in the configuration, or `named`: a name
    looked up in escalation_targets (the matrix's on-call chain)."""

    kind: str
    name: str
    layer: str | None = None
    channel: str | None = None

    def describe(self) -> str:
        if self.kind == "schedule":
            return f"schedule {self.name}" + (f", layer {self.layer}" if self.layer else "")
        if self.kind == "named":
            return self.name
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Step:
    delay: timedelta
    targets: tuple[StepTarget, ...]
    urgency: Urgency | None = None
    delivery: Delivery = PLAN


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0
    ack_timeout: timedelta | None = None
    title: str = ""
    source: Literal["config", "matrix"] = "config"

    @property
    def label(self) -> str:
        return self.title or self.name


def policy_from_spec(spec: EscalationPolicy) -> Policy:
    return Policy(
        name=spec.name,
        title=spec.title,
        repeat=spec.repeat,
        ack_timeout=spec.ack_timeout,
        steps=tuple(
            Step(
                delay=step.delay,
                urgency=step.urgency,
                targets=tuple(
                    StepTarget(
                        t.type.value,
                        t.name,
                        t.layer,
                        (t.channel.value if t.channel else "slack")
                        if t.type.value == "channel"
                        else None,
                    )
                    for t in step.targets
                ),
            )
            for step in spec.steps
        ),
    )


def policy_from_chain(chain: Sequence[ChainStep]) -> Policy | None:
    """The matrix's on-call chain as a policy: each link pages its role's name."""
    if not chain:
        return None
    return Policy(
        name=CHAIN_POLICY,
        title="On-call chain (escalation matrix)",
        source="matrix",
        steps=tuple(
            Step(
                delay=link.wait,
                targets=(StepTarget("named", link.role),),
                delivery=link.delivery,
            )
            for link in chain
        ),
    )


def page_urgency(step: Step, severity_rank: int | None) -> Urgency:
    """The step's urgency, else high for the two most severe levels and low below."""
    if step.urgency is not None:
        return step.urgency
    return "high" if severity_rank is not None and severity_rank <= 2 else "low"


@dataclass(frozen=True, slots=True)
class Position:
    round: int
    step: int
    loop: int


def next_position(position: Position, steps: int, repeat: int) -> Position | None:
    """What pages after `position` if nobody acknowledges; None when the policy is spent."""
    if position.step + 1 < steps:
        return Position(position.round, position.step + 1, position.loop)
    if position.loop < repeat:
        return Position(position.round, 0, position.loop + 1)
    return None


@dataclass(frozen=True, slots=True)
class PlannedPage:
    at: datetime
    position: Position


def paging_plan(
    policy: Policy, start: datetime, round: int = 0
) -> tuple[list[PlannedPage], datetime]:
    """Every page of a round nobody acknowledges, and when the policy is exhausted."""
    pages: list[PlannedPage] = []
    position: Position | None = Position(round, 0, 0)
    at = start
    while position is not None:
        pages.append(PlannedPage(at, position))
        at = at + policy.steps[position.step].delay
        position = next_position(position, len(policy.steps), policy.repeat)
    return pages, at


def escalate_key(incident_id: int, position: Position) -> str:
    return f"esc:{incident_id}:{position.round}:{position.step}:{position.loop}"


def step_description(policy: Policy, position: Position) -> str:
    """`step 2`, `step 1, repeat 1 of 1`, `step 1, round 2` for timeline lines."""
    parts = [f"step {position.step + 1}"]
    if position.loop:
        parts.append(f"repeat {position.loop} of {policy.repeat}")
    if position.round:
        parts.append(f"round {position.round + 1}")
    return ", ".join(parts)


# --- rules ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What rules look at. `critical_services` counts tier-0 services on the incident;
    `sla_at_risk` is set by an SLA clock's warning."""

    severity: str
    declared_at: datetime
    open: bool
    impact: Mapping[str, Any]
    critical_services: int = 0
    sla_at_risk: bool = False


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _money(value: float) -> str:
    return f"${value:,.0f}" if value == int(value) else f"${value:,.2f}"


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return value is True or (isinstance(value, int | float) and value > 0)


def rule_due(rule: Rule, declared_at: datetime) -> datetime | None:
    """When a time-based rule comes due; None for the others."""
    if rule.condition.after is None:
        return None
    return declared_at + rule.condition.after


def rule_holds(rule: Rule, facts: IncidentFacts, now: datetime) -> str | None:
    """Why `rule` holds for the incident at `now` (the values, for the timeline), or None.

    Nothing holds for a resolved or closed incident.
    """
    if not facts.open:
        return None
    condition = rule.condition
    kind = condition.kind
    impact = facts.impact
    if kind is ConditionKind.UNRESOLVED_FOR:
        assert condition.after is not None
        elapsed = now - facts.declared_at
        if elapsed < condition.after:
            return None
        minutes = int(elapsed.total_seconds() // 60)
        return f"unresolved {minutes} minutes after declaration"
    if kind is ConditionKind.REVENUE:
        assert condition.amount is not None
        for name in condition.fields:
            value = _number(impact.get(name))
            if value is not None and value > condition.amount:
                return f"{name} {_money(value)} > {_money(condition.amount)}"
        return None
    if kind is ConditionKind.DATA_EXPOSED:
        return "customer_data_exposed" if _truthy(impact.get("customer_data_exposed")) else None
    if kind is ConditionKind.SLA_AT_RISK:
        if facts.sla_at_risk:
            return "an SLA clock is about to run out"
        return "sla_breach_imminent" if _truthy(impact.get("sla_breach_imminent")) else None
    if kind is ConditionKind.VENDOR_FAILURE:
        if not _truthy(impact.get("third_party_failure")):
            return None
        vendor = impact.get("vendor")
        return f"third_party_failure ({vendor})" if vendor else "third_party_failure"
    if kind is ConditionKind.CRITICAL_SYSTEMS:
        wanted = condition.amount or 2
        reported = _number(impact.get("critical_systems_affected"))
        if reported is not None and reported >= wanted:
            return f"critical_systems_affected {int(reported)}"
        if facts.critical_services >= wanted:
            return f"{facts.critical_services} tier-0 services affected"
        return None
    return None  # pragma: no cover - every kind is handled above


# --- acknowledge links ------------------------------------------------------------------

_TAG_BYTES = 16
_TOKEN_LIMIT = 512
_CONTEXT = b"warroom-ack-v1:"


class AckLinkError(ValueError):
    """An acknowledge link that cannot be used: `reason` is malformed, forged or expired."""

    def __init__(self, reason: Literal["malformed", "forged", "expired"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AckClaim:
    incident_id: int
    user: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, body: str) -> bytes:
    return hmac.new(key, _CONTEXT + body.encode(), hashlib.sha256).digest()[:_TAG_BYTES]


def sign_ack_token(key: bytes, *, incident_id: int, user: str, expires_at: datetime) -> str:
    """A token that lets `user` acknowledge incident `incident_id` until `expires_at`."""
    if not key:
        raise ValueError("an acknowledge link needs a key")
    body = _b64(f"{incident_id}:{int(expires_at.timestamp())}:{user}".encode())
    return f"{body}.{_b64(_tag(key, body))}"


def read_ack_token(key: bytes, token: str, *, now: datetime) -> AckClaim:
    """The claim of a valid token; AckLinkError when it is malformed, forged or expired."""
    if not token or len(token) > _TOKEN_LIMIT or token.count(".") != 1:
        raise AckLinkError("malformed", "this is not an acknowledge link")
    body, tag = token.split(".")
    try:
        presented = _unb64(tag)
    except (binascii.Error, ValueError):
        raise AckLinkError("malformed", "this is not an acknowledge link") from None
    # Check the tag before reading anything else: nothing unauthenticated is parsed.
    if not hmac.compare_digest(presented, _tag(key, body)):
        raise AckLinkError("forged", "this acknowledge link is not valid")
    try:
        incident, expires, user = _unb64(body).decode().split(":", 2)
        claim = AckClaim(int(incident), user, datetime.fromtimestamp(int(expires), UTC))
    except (binascii.Error, ValueError, UnicodeDecodeError, OverflowError):
        raise AckLinkError("malformed", "this is not an acknowledge link") from None
    if now >= claim.expires_at:
        raise AckLinkError("expired", "this acknowledge link has expired")
    return claim


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose from a server secret (so one secret serves several uses)."""
    return hmac.new(secret.encode(), f"warroom {purpose} v1".encode(), hashlib.sha256).digest()
