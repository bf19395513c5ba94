"""The escalation matrix and the roles' escalation triggers, read from their free text. Pure.

Seed 000's `escalation-matrix.yaml` writes its rules for people ("30 minutes without
resolution", "Revenue loss exceeds $50,000", method "email and phone"), and so do the
roles' `escalation_triggers` ("Incident duration exceeds 60 minutes" → "Notify
Engineering Director"). The configuration keeps the matrix as the seed wrote it; this
module reads it into typed rules with a few small regular expressions, each matched
against the whole text (case and extra spaces aside, a trailing full stop ignored):

Conditions (a matrix rule's `trigger`, a role trigger's `condition`):

    <N> <minutes|hours|days> without resolution  unresolved that long after declaration
    incident duration exceeds <N> <unit>         the same
    revenue loss exceeds $<amount>               impact.revenue_loss > amount
    revenue impact exceeds $<amount>             impact.revenue_loss or
                                                 impact.revenue_impact_per_hour > amount
    customer data [potentially] exposed          impact.customer_data_exposed is true
    sla breach imminent                          an SLA clock's warning went off, or
                                                 impact.sla_breach_imminent is true
    third-party [dependency] failure             impact.third_party_failure is true
    multiple critical systems affected           impact.critical_systems_affected >= 2,
                                                 or two tier-0 services on the incident

Amounts may be written $50,000, 50000, $10k or $1.5m.

Methods (a matrix rule's `method`, an on-call chain step's `contact_methods`): phone (a
call), sms, email, slack, teams, webhook, and pagerduty — the person's own contact plan —
joined by "and", "," or "/". pagerduty among other methods means the contact plan, which
escalates to texts and calls by itself.

Role actions (a role trigger's `action`):

    notify <names> [immediately]   the names' contact plans: low urgency unless immediately
    page <names> / escalate to ... the contact plans at high urgency
    call <names>                   a phone call
    consider <something>           advice: a timeline event, and the incident commander told

Several names are split on "," and "and", unless the whole text is a known name.

Anything that cannot be read is a problem naming its field, reported when the
configuration loads; every text of the seeds reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from warroom.config.durations import parse_duration
from warroom.config.escalation import target_key
from warroom.config.schema import rule_severity

if TYPE_CHECKING:
    from warroom.config.incidents import RoleDefinition
    from warroom.config.schema import WarroomConfig

Urgency = Literal["high", "low"]

MATRIX_PARTS = ("time_based", "impact_based", "on_call_chain", "contacts")
_RULE_KEYS = frozenset({"trigger", "severity", "escalate_to", "method", "immediate"})
_CHAIN_KEYS = frozenset({"role", "response_time", "contact_methods", "trigger"})


class ConditionKind(StrEnum):
    UNRESOLVED_FOR = "unresolved_for"
    REVENUE = "revenue"
    DATA_EXPOSED = "data_exposed"
    SLA_AT_RISK = "sla_at_risk"
    VENDOR_FAILURE = "vendor_failure"
    CRITICAL_SYSTEMS = "critical_systems"


@dataclass(frozen=True, slots=True)
class Condition:
    """When a rule holds. `after` for UNRESOLVED_FOR; `amount` and the impact `fields`
    compared with it for REVENUE and CRITICAL_SYSTEMS."""

    kind: ConditionKind
    text: str
    after: timedelta | None = None
    amount: float | None = None
    fields: tuple[str, ...] = ()

    @property
    def time_based(self) -> bool:
        return self.kind is ConditionKind.UNRESOLVED_FOR


@dataclass(frozen=True, slots=True)
class Delivery:
    """How an escalation reaches people: these channels at once, or (none) their plan."""

    channels: tuple[str, ...] = ()
    text: str = "contact plan"

    @property
    def plan(self) -> bool:
        return not self.channels


PLAN = Delivery()


@dataclass(frozen=True, slots=True)
class Rule:
    """One escalation: when `condition` holds, tell `targets` (names) by `delivery`.

    `severities` limits a matrix rule to those levels (as written; () is every level);
    a role trigger applies to the levels with `leadership_notification` — the seed's
    triggers are about "when the IC should escalate to senior leadership".
    """

    id: str
    where: str
    condition: Condition
    targets: tuple[str, ...]
    delivery: Delivery = PLAN
    severities: tuple[str, ...] = ()
    leadership_only: bool = False
    urgency: Urgency = "high"
    advice: str | None = None
    action: str = ""

    @property
    def trigger(self) -> str:
        return self.condition.text


@dataclass(frozen=True, slots=True)
class ChainStep:
    """One link of the matrix's on-call chain; `wait` is how long it has before the next
    link is paged (the next link's "unresponsive for", else this link's response time)."""

    key: str
    role: str
    wait: timedelta
    delivery: Delivery
    response_time: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Matrix:
    time_based: tuple[Rule, ...] = ()
    impact_based: tuple[Rule, ...] = ()
    chain: tuple[ChainStep, ...] = ()


@dataclass(frozen=True)
class Rules:
    """Every escalation rule of a configuration."""

    matrix: Matrix
    role_rules: tuple[Rule, ...] = ()

    @property
    def all(self) -> tuple[Rule, ...]:
        return self.matrix.time_based + self.matrix.impact_based + self.role_rules

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.all if rule.id == rule_id), None)


# --- texts ------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(str(text).split()).rstrip(".").strip()


_DURATION = r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?|[mhdw])"
_UNRESOLVED = (
    re.compile(rf"{_DURATION}\s+without\s+(?:resolution|being\s+resolved)", re.IGNORECASE),
    re.compile(rf"(?:incident\s+)?duration\s+(?:exceeds|over)\s+{_DURATION}", re.IGNORECASE),
    re.compile(rf"unresolved\s+(?:for|after)\s+{_DURATION}", re.IGNORECASE),
)
_REVENUE = re.compile(
    r"revenue\s+(?P<what>loss|impact)\s+(?:exceeds|is\s+above|above|over|greater\s+than)\s+"
    r"\$?\s*(?P<amount>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?\s*(?P<scale>[kKmM])?",
    re.IGNORECASE,
)
_SIMPLE_CONDITIONS = (
    (
        re.compile(r"customer\s+data\s+(?:potentially\s+|possibly\s+)?exposed", re.IGNORECASE),
        ConditionKind.DATA_EXPOSED,
    ),
    (
        re.compile(r"sla\s+breach\s+(?:imminent|likely)|sla\s+at\s+risk", re.IGNORECASE),
        ConditionKind.SLA_AT_RISK,
    ),
    (
        re.compile(
            r"third[-\s]party\s+(?:dependency\s+|vendor\s+)?failure|vendor\s+failure",
            re.IGNORECASE,
        ),
        ConditionKind.VENDOR_FAILURE,
    ),
)
_CRITICAL = re.compile(r"multiple\s+critical\s+(?:systems|services)\s+affected", re.IGNORECASE)

CONDITION_FORMS = (
    "'<N> minutes without resolution', 'Incident duration exceeds <N> minutes', "
    "'Revenue loss exceeds $<amount>', 'Revenue impact exceeds $<amount>', "
    "'Customer data exposed', 'SLA breach imminent', 'Third-party dependency failure', "
    "'Multiple critical systems affected'"
)


def parse_condition(text: str) -> Condition:
    """Read a trigger's text; ValueError says which forms are understood."""
    clean = _clean(text)
    for pattern in _UNRESOLVED:
        match = pattern.fullmatch(clean)
        if match:
            after = parse_duration(f"{match.group('n')} {match.group('unit')}")
            return Condition(ConditionKind.UNRESOLVED_FOR, clean, after=after)
    match = _REVENUE.fullmatch(clean)
    if match:
        amount = float(match.group("amount").replace(",", "") + (match.group("fraction") or ""))
        scale = (match.group("scale") or "").lower()
        amount *= {"k": 1_000, "m": 1_000_000}.get(scale, 1)
        fields = (
            ("revenue_loss",)
            if match.group("what").lower() == "loss"
            else ("revenue_loss", "revenue_impact_per_hour")
        )
        return Condition(ConditionKind.REVENUE, clean, amount=amount, fields=fields)
    for pattern, kind in _SIMPLE_CONDITIONS:
        if pattern.fullmatch(clean):
            return Condition(kind, clean)
    if _CRITICAL.fullmatch(clean):
        return Condition(
            ConditionKind.CRITICAL_SYSTEMS,
            clean,
            amount=2,
            fields=("critical_systems_affected",),
        )
    raise ValueError(f"cannot read the condition {text!r}; write one of {CONDITION_FORMS}")


_METHOD_WORDS: dict[str, str | None] = {
    "phone": "voice",
    "call": "voice",
    "voice": "voice",
    "sms": "sms",
    "text": "sms",
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "slack": "slack",
    "teams": "teams",
    "webhook": "webhook",
    # The person's own contact plan: PagerDuty's "notify by my notification rules".
    "pagerduty": None,
    "page": None,
    "contact plan": None,
    "plan": None,
}
_METHOD_SPLIT = re.compile(r"\s*(?:,|/|\+|\band\b)\s*", re.IGNORECASE)


def parse_method(value: object) -> Delivery:
    """`"phone"`, `"email and phone"`, `["pagerduty", "phone"]` → how to deliver."""
    items = value if isinstance(value, list | tuple) else [value]
    words: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"a method is text, not {item!r}")
        words += [w for w in _METHOD_SPLIT.split(_clean(item).lower()) if w]
    if not words:
        raise ValueError("no method given")
    channels: list[str] = []
    plan = False
    for word in words:
        if word not in _METHOD_WORDS:
            known = ", ".join(sorted(w for w in _METHOD_WORDS if " " not in w))
            raise ValueError(f"unknown method {word!r}; use {known}")
        channel = _METHOD_WORDS[word]
        if channel is None:
            plan = True
        elif channel not in channels:
            channels.append(channel)
    text = " and ".join(_clean(str(i)) for i in items)
    if plan:
        return Delivery((), text)
    return Delivery(tuple(channels), text)


_ACTION = re.compile(
    r"(?P<verb>notify|inform|alert|page|escalate\s+to|call|phone)\s+(?P<names>.+?)"
    r"(?P<now>\s+(?:immediately|at\s+once|right\s+away))?",
    re.IGNORECASE,
)
_ADVICE = re.compile(r"consider\s+(?P<advice>.+)", re.IGNORECASE)
_NAME_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+", re.IGNORECASE)


def split_names(text: str, known: Collection[str] = ()) -> tuple[str, ...]:
    """`"VP of Engineering and Finance"` → the two names (unless the whole is a known one)."""
    clean = _clean(text)
    if target_key(clean) in known:
        return (clean,)
    return tuple(part for part in _NAME_SPLIT.split(clean) if part)


@dataclass(frozen=True, slots=True)
class Action:
    targets: tuple[str, ...]
    delivery: Delivery
    urgency: Urgency
    advice: str | None = None


def parse_action(text: str, known: Collection[str] = ()) -> Action:
    """Read a role trigger's action; ValueError says which forms are understood."""
    clean = _clean(text)
    advice = _ADVICE.fullmatch(clean)
    if advice:
        return Action((), PLAN, "high", advice=clean)
    match = _ACTION.fullmatch(clean)
    if not match:
        raise ValueError(
            f"cannot read the action {text!r}; write 'Notify <names> [immediately]', "
            "'Page <names>', 'Call <names>' or 'Consider <something>'"
        )
    verb = " ".join(match.group("verb").lower().split())
    names = split_names(match.group("names"), known)
    if verb in ("call", "phone"):
        return Action(names, Delivery(("voice",), "phone"), "high")
    urgent = bool(match.group("now")) or verb in ("page", "escalate to")
    return Action(names, PLAN, "high" if urgent else "low")


_UNRESPONSIVE = re.compile(
    r"(?P<who>.+?)\s+(?:is\s+)?(?:unresponsive|has\s+not\s+acknowledged)\s+(?:for|after)\s+"
    r"(?P<duration>.+)",
    re.IGNORECASE,
)


def parse_unresponsive(text: str) -> timedelta:
    """`"Primary unresponsive for 10 minutes"` → 10 minutes."""
    match = _UNRESPONSIVE.fullmatch(_clean(text))
    if not match:
        raise ValueError(f"cannot read {text!r}; write '<who> unresponsive for <duration>'")
    return parse_duration(match.group("duration"))


# --- the matrix -----------------------------------------------------------------------


def _names(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    names = tuple(_clean(v) for v in items if isinstance(v, str) and _clean(v))
    if len(names) != len(items) or not names:
        raise ValueError("escalate_to is a name or a list of names")
    return names


def _rule(
    item: object,
    *,
    part: str,
    index: int,
    problems: list[str],
    known_severity: Callable[[str], bool],
) -> Rule | None:
    where = f"escalation_matrix.{part}.{index}"
    if not isinstance(item, Mapping):
        problems.append(f"{where}: expected a rule with trigger, escalate_to and method")
        return None
    broken = False
    for key in item:
        if key not in _RULE_KEYS:
            problems.append(
                f"{where}.{key}: unknown field {str(key)!r}; a rule has "
                f"{', '.join(sorted(_RULE_KEYS))}"
            )
            broken = True
    condition = targets = None
    try:
        if "trigger" not in item:
            raise ValueError("required field is missing")
        condition = parse_condition(str(item["trigger"]))
    except ValueError as exc:
        problems.append(f"{where}.trigger: {exc}")
    try:
        if "escalate_to" not in item:
            raise ValueError("required field is missing")
        targets = _names(item["escalate_to"])
    except ValueError as exc:
        problems.append(f"{where}.escalate_to: {exc}")
    delivery = PLAN
    if "method" in item:
        try:
            delivery = parse_method(item["method"])
        except ValueError as exc:
            problems.append(f"{where}.method: {exc}")
            broken = True
    severities: tuple[str, ...] = ()
    if "severity" in item:
        raw = item["severity"]
        listed = raw if isinstance(raw, list) else [raw]
        severities = tuple(str(s) for s in listed)
        for name in severities:
            if not known_severity(name):
                problems.append(f"{where}.severity: unknown severity {name!r}")
                broken = True
    immediate = item.get("immediate", False)
    if not isinstance(immediate, bool):
        problems.append(f"{where}.immediate: expected true or false")
        broken = True
    if condition is None or targets is None or broken:
        return None
    return Rule(
        id=f"matrix.{part}.{index}",
        where=where,
        condition=condition,
        targets=targets,
        delivery=delivery,
        severities=severities,
        urgency="high",
    )


def _chain(data: object, problems: list[str]) -> tuple[ChainStep, ...]:
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        problems.append("escalation_matrix.on_call_chain: expected a mapping of chain steps")
        return ()
    pieces: list[tuple[str, str, timedelta | None, timedelta | None, Delivery]] = []
    for key, body in data.items():
        where = f"escalation_matrix.on_call_chain.{key}"
        if not isinstance(body, Mapping):
            problems.append(f"{where}: expected role, response_time and contact_methods")
            continue
        for field in body:
            if field not in _CHAIN_KEYS:
                problems.append(
                    f"{where}.{field}: unknown field {str(field)!r}; a chain step has "
                    f"{', '.join(sorted(_CHAIN_KEYS))}"
                )
        role = body.get("role")
        if not isinstance(role, str) or not _clean(role):
            problems.append(f"{where}.role: required: the name of who is paged")
            continue
        response: timedelta | None = None
        unresponsive: timedelta | None = None
        delivery = PLAN
        try:
            if body.get("response_time") is not None:
                response = parse_duration(body["response_time"])
        except ValueError as exc:
            problems.append(f"{where}.response_time: {exc}")
        try:
            if body.get("trigger") is not None:
                unresponsive = parse_unresponsive(str(body["trigger"]))
        except ValueError as exc:
            problems.append(f"{where}.trigger: {exc}")
        try:
            if body.get("contact_methods") is not None:
                delivery = parse_method(body["contact_methods"])
        except ValueError as exc:
            problems.append(f"{where}.contact_methods: {exc}")
        pieces.append((str(key), _clean(role), response, unresponsive, delivery))
    steps: list[ChainStep] = []
    for i, (key, role, response, _, delivery) in enumerate(pieces):
        following = pieces[i + 1][3] if i + 1 < len(pieces) else None
        wait = following or response
        if wait is None or wait < timedelta(minutes=1):
            problems.append(
                f"escalation_matrix.on_call_chain.{key}: give a response_time of at least "
                "1 minute (or the next step an 'unresponsive for' trigger)"
            )
            continue
        steps.append(ChainStep(key, role, wait, delivery, response))
    return tuple(steps)


def parse_matrix(
    data: object, *, known_severity: Callable[[str], bool] = lambda _: True
) -> tuple[Matrix, list[str]]:
    """Read the seed's `escalation_matrix` block; return it and every problem found."""
    problems: list[str] = []
    if data is None:
        return Matrix(), problems
    if not isinstance(data, Mapping):
        problems.append(
            "escalation_matrix: expected a mapping of time_based, impact_based, "
            "on_call_chain and contacts"
        )
        return Matrix(), problems
    for key in data:
        if key not in MATRIX_PARTS:
            problems.append(
                f"escalation_matrix.{key}: unknown part {str(key)!r}; the matrix has "
                f"{', '.join(MATRIX_PARTS)}"
            )
    parts: dict[str, tuple[Rule, ...]] = {}
    for part in ("time_based", "impact_based"):
        items = data.get(part)
        if items is None:
            parts[part] = ()
            continue
        if not isinstance(items, list):
            problems.append(f"escalation_matrix.{part}: expected a list of rules")
            parts[part] = ()
            continue
        rules = [
            _rule(item, part=part, index=i, problems=problems, known_severity=known_severity)
            for i, item in enumerate(items)
        ]
        parts[part] = tuple(rule for rule in rules if rule is not None)
    contacts = data.get("contacts")
    if contacts is not None and not isinstance(contacts, Mapping):
        problems.append("escalation_matrix.contacts: expected a mapping of contacts")
    chain = _chain(data.get("on_call_chain"), problems)
    return Matrix(parts["time_based"], parts["impact_based"], chain), problems


def parse_role_triggers(
    roles: Mapping[str, RoleDefinition], known: Collection[str] = ()
) -> tuple[list[Rule], list[str]]:
    """Read every role's `escalation_triggers`; return the rules and every problem."""
    rules: list[Rule] = []
    problems: list[str] = []
    for key, role in roles.items():
        for i, trigger in enumerate(role.escalation_triggers):
            where = f"roles.{key}.escalation_triggers.{i}"
            condition = action = None
            try:
                condition = parse_condition(trigger.condition)
            except ValueError as exc:
                problems.append(f"{where}.condition: {exc}")
            try:
                action = parse_action(trigger.action, known)
            except ValueError as exc:
                problems.append(f"{where}.action: {exc}")
            if condition is None or action is None:
                continue
            rules.append(
                Rule(
                    id=f"role.{key}.{i}",
                    where=where,
                    condition=condition,
                    targets=action.targets,
                    delivery=action.delivery,
                    leadership_only=True,
                    urgency=action.urgency,
                    advice=action.advice,
                    action=_clean(trigger.action),
                )
            )
    return rules, problems


# --- a configuration's rules ------------------------------------------------------------


def known_names(config: WarroomConfig) -> frozenset[str]:
    """Every name a rule may use, compared as `target_key` does."""
    names = {target_key(name) for name in config.escalation_targets}
    names |= {target_key(u.handle) for u in config.users}
    names |= {target_key(t.name) for t in config.teams}
    names |= {target_key(s.name) for s in config.schedules}
    return frozenset(names)


def _read(config: WarroomConfig) -> tuple[Rules, list[str]]:
    matrix, problems = parse_matrix(
        config.escalation_matrix,
        known_severity=lambda name: rule_severity(config, name) is not None,
    )
    role_rules, role_problems = parse_role_triggers(config.roles, known_names(config))
    return Rules(matrix, tuple(role_rules)), problems + role_problems


_cache: dict[int, tuple[WarroomConfig, Rules]] = {}


def compile_rules(config: WarroomConfig) -> Rules:
    """The configuration's rules (it was validated, so they all read); cached per config."""
    cached = _cache.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_cache) > 8:
            _cache.clear()
        cached = (config, _read(config)[0])
        _cache[id(config)] = cached
    return cached[1]


def config_problems(config: WarroomConfig) -> list[str]:
    """Every problem with the matrix and the role triggers, as "field.path: message".

    Names must resolve (through `escalation_targets`, or as a user handle, team or
    schedule name) once the configuration gives `escalation_targets`; without it they
    are looked up the same way when a rule fires, and one that does not resolve is
    noted on the incident's timeline.
    """
    rules, problems = _read(config)
    if not config.escalation_targets:
        return problems
    known = known_names(config)
    for rule in rules.all:
        field = "escalate_to" if rule.id.startswith("matrix.") else "action"
        for name in rule.targets:
            if target_key(name) not in known:
                problems.append(f"{rule.where}.{field}: no escalation target named {name!r}")
    for step in rules.matrix.chain:
        if target_key(step.role) not in known:
            problems.append(
                f"escalation_matrix.on_call_chain.{step.key}.role: "
                f"no escalation target named {step.role!r}"
            )
    return problems


def matches_severity(config: WarroomConfig, rule: Rule, severity: str) -> bool:
    """Does `rule` apply to incidents of `severity`?"""
    level = config.severity(severity)
    if rule.leadership_only and (level is None or not level.leadership_notification):
        return False
    if not rule.severities:
        return True
    wanted = {getattr(rule_severity(config, name), "name", None) for name in rule.severities}
    return level is not None and level.name in wanted


__all__ = [
    "PLAN",
    "Action",
    "ChainStep",
    "Condition",
    "ConditionKind",
    "Delivery",
    "Matrix",
    "Rule",
    "Rules",
    "compile_rules",
    "config_problems",
    "known_names",
    "matches_severity",
    "parse_action",
    "parse_condition",
    "parse_matrix",
    "parse_method",
    "parse_role_triggers",
    "parse_unresponsive",
    "split_names",
]
