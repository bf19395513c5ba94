"""Who may act on an incident (pure): the authority rules against the roles held on it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from warroom.auth.logic import Principal, Role
from warroom.config.authority import IC, Action, ActionRule
from warroom.config.durations import parse_duration
from warroom.config.schema import WarroomConfig

_VERBS = {
    Action.CHANGE_SEVERITY: "change the severity of",
    Action.ASSIGN_ROLES: "assign roles on",
    Action.RESOLVE: "resolve or close",
    Action.AUTHORIZE: "authorize {subject!r} on",
}


@dataclass(frozen=True)
class Decision:
    """Whether the actor may act; `override` when only being an admin allowed it."""

    allowed: bool
    override: bool = False
    message: str = ""
    may: tuple[str, ...] = ()
    holders: dict[str, str] = field(default_factory=dict)


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def authorizing_roles(config: WarroomConfig, rule: ActionRule, subject: str) -> list[str]:
    """Return the roles that may authorize `subject`."""
    # What any role needs the IC's approval for is the IC's alone; otherwise the rule's
    # roles and every role whose `can_authorize` lists it.
    if any(
        any(_same(item, subject) for item in role.requires_ic_approval)
        for role in config.roles.values()
    ):
        return [IC]
    listed = [
        name
        for name, role in config.roles.items()
        if any(_same(item, subject) for item in role.can_authorize)
    ]
    return list(dict.fromkeys([*rule.roles, *listed]))


def applies(config: WarroomConfig, rule: ActionRule, roles: list[str], severity: str) -> bool:
    """Whether the rule holds at `severity` (else any responder may act)."""
    if rule.severities == "all":
        return True
    if isinstance(rule.severities, list):
        return severity in rule.severities
    level = config.severity(severity)
    return level is not None and bool(set(level.required_roles) & set(roles))


def _title(config: WarroomConfig, role: str) -> str:
    definition = config.roles.get(role)
    return definition.title if definition else role


def _who(config: WarroomConfig, roles: list[str], holders: Mapping[str, str]) -> str:
    named = [
        f"the {_title(config, r)} ({holders[r]})" if r in holders else f"the {_title(config, r)}"
        for r in roles
    ]
    if len(named) > 1:
        return ", ".join(named[:-1]) + " or " + named[-1]
    return named[0]


def decide(
    config: WarroomConfig,
    *,
    action: Action,
    severity: str,
    holders: Mapping[str, str],
    actor: Principal,
    subject: str = "",
) -> Decision:
    """Decide whether `actor` may do `action` on an incident at `severity` held as `holders`."""
    rule = config.authority.rule(action)
    if rule is None:
        return Decision(True)
    roles = authorizing_roles(config, rule, subject) if action is Action.AUTHORIZE else rule.roles
    if not applies(config, rule, roles, severity):
        return Decision(True)
    held = {r: holders[r] for r in roles if r in holders}
    if actor.user is not None and actor.user in held.values():
        return Decision(True)
    if not held and rule.when_vacant == "anyone":
        return Decision(True)
    verb = _VERBS[action].format(subject=subject)
    if held:
        who = _who(config, [r for r in roles if r in held], held)
        message = f"only {who} may {verb} a {severity} incident (or an admin)"
    else:
        who = _who(config, roles, {})
        message = f"only an admin may {verb} a {severity} incident while nobody is {who}"
    may = tuple(held.values()) if held else ()
    if actor.role is Role.ADMIN:
        return Decision(True, override=True, message=message, may=may, holders=held)
    return Decision(False, message=message, may=may, holders=held)


_BUSINESS_DAY = re.compile(r"next\s+business\s+day|next\s+day")


def staffing_time(config: WarroomConfig, severity: str) -> timedelta | None:
    """How long a level's required roles may stay empty, or None when it cannot be told."""
    staffing = config.authority.staffing
    if severity in staffing.within:
        return staffing.within[severity]
    level = config.severity(severity)
    if level is None:
        return None
    text = level.response_time.strip().lower()
    if _BUSINESS_DAY.fullmatch(text):
        return timedelta(days=1)
    text = re.sub(r"^(within|in|under|less than)\s+", "", text)
    try:
        value = parse_duration(text)
    except ValueError:
        return None
    return value if value > timedelta(0) else staffing.immediate


def missing_roles(config: WarroomConfig, severity: str, holders: Mapping[str, str]) -> list[str]:
    """The level's required roles that nobody holds, in the level's order."""
    level = config.severity(severity)
    if level is None:
        return []
    return [r for r in level.required_roles if r not in holders]
