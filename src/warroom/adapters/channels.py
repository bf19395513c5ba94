"""Can every person be reached: which channels are configured, and who they leave out.

The findings feed `warroom doctor`, one log line each at engine start, and the web
dashboard's banner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from warroom.config.people import ContactMethodType
from warroom.config.schema import WarroomConfig

if TYPE_CHECKING:
    from warroom.context import AppContext


log = logging.getLogger("warroom")

Level = Literal["ok", "warn", "fail"]


_PEOPLE_CHANNELS = ("email", "sms", "voice", "slack", "webhook")


@dataclass(frozen=True)
class Finding:
    area: str  # configuration | database | channels | chat | engine
    level: Level
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def name_list(items: Iterable[str], limit: int = 5) -> str:
    listed = sorted(items)
    shown = ", ".join(listed[:limit])
    return shown + (f" and {len(listed) - limit} more" if len(listed) > limit else "")


def _people(count: int) -> str:
    return f"{count} {'person has' if count == 1 else 'people have'}"


# --- channels ------------------------------------------------------------------------------


def _person_channels(config: WarroomConfig) -> dict[str, set[str]]:
    """Each person's channels (their contact methods' types)."""
    from warroom.notifications.logic import contact_methods

    return {user.handle: {m.type.value for m in contact_methods(user)} for user in config.users}


def _policy_channels(config: WarroomConfig) -> dict[str, set[str]]:
    """channel → the escalation policies and targets that page a destination on it."""
    found: dict[str, set[str]] = {}
    for policy in config.escalation_policies:
        for step in policy.steps:
            for target in step.targets:
                if target.type.value == "channel":
                    kind = (target.channel or ContactMethodType.SLACK).value
                    found.setdefault(kind, set()).add(f"policy {policy.name}")
    for name, ref in config.escalation_targets.items():
        for kind, _ in ref.addresses:
            found.setdefault(kind, set()).add(f"target {name!r}")
    return found


def channel_findings(config: WarroomConfig, configured: frozenset[str]) -> list[Finding]:
    """What the configured channels leave out: people nobody can reach (fail), channels
    some people or policies use that are not configured (warn)."""
    from warroom.adapters.registry import CHANNEL_SETTINGS

    findings: list[Finding] = []
    people = _person_channels(config)
    usable = sorted(configured)
    nothing = not any(c in configured for c in _PEOPLE_CHANNELS)
    if nothing:
        findings.append(
            Finding(
                "channels",
                "fail",
                "no notification channel is configured, so every page to a person fails "
                "('channel … is not configured'): set WARROOM_SMTP_HOST and WARROOM_SMTP_FROM "
                "for email, WARROOM_TWILIO_* for SMS and calls, WARROOM_SLACK_TOKEN for Slack "
                "(docs/notifications.md)",
            )
        )
    unreachable = {h: kinds for h, kinds in people.items() if kinds and not kinds & configured}
    if unreachable and any(c in configured for c in _PEOPLE_CHANNELS):
        shown = name_list(f"{h} ({'/'.join(sorted(k))})" for h, k in unreachable.items())
        findings.append(
            Finding(
                "channels",
                "fail",
                f"{_people(len(unreachable))} no contact method on a configured channel "
                f"and cannot be paged: {shown}",
            )
        )
    without = [h for h, kinds in people.items() if not kinds]
    if without:
        findings.append(
            Finding(
                "channels",
                "warn",
                f"{_people(len(without))} no contact method at all: {name_list(without)}",
            )
        )
    if not people:
        findings.append(
            Finding("channels", "warn", "no users are configured: pages reach only channels")
        )
    for channel in _PEOPLE_CHANNELS:
        if channel in configured or nothing:
            continue  # with nothing configured, the failure above says it all
        users = sorted(h for h, kinds in people.items() if channel in kinds)
        policies = sorted(_policy_channels(config).get(channel, ()))
        if not users and not policies:
            continue
        who = []
        if users:
            who.append(f"{_people(len(users))} it")
        if policies:
            who.append(f"{name_list(policies, 3)} page on it")
        findings.append(
            Finding(
                "channels",
                "warn",
                f"{channel} is not configured ({CHANNEL_SETTINGS[channel]}), but "
                f"{' and '.join(who)}",
            )
        )
    if not [f for f in findings if f.level != "ok"]:
        findings.append(
            Finding(
                "channels",
                "ok",
                f"configured: {', '.join(usable)}; all {len(people)} people can be reached",
            )
        )
    return findings


def log_channel_problems(config: WarroomConfig, configured: frozenset[str]) -> None:
    """At engine start: one warning line per channel problem (not again until a restart)."""
    findings = channel_findings(config, configured)
    for finding in findings:
        if finding.level == "fail":
            log.warning("%s (see `warroom doctor`)", finding.message)
    notes = [f.message for f in findings if f.level == "warn"]
    if notes:
        log.warning("notification channels: %s", "; ".join(notes))


_banner_cache: dict[int, tuple[object, list[str]]] = {}


def setup_warnings(ctx: AppContext) -> list[str]:
    """The channel problems that stop pages, for the web dashboard's banner (computed once
    per configuration and settings)."""
    from warroom.adapters.registry import configured_channels

    key = id(ctx)
    cached = _banner_cache.get(key)
    if cached is not None and cached[0] is ctx.config:
        return cached[1]
    try:
        configured = configured_channels(ctx.settings)
    except ValueError as exc:
        messages = [f"notification settings are incomplete: {exc}"]
    else:
        messages = [
            f.message for f in channel_findings(ctx.config, configured) if f.level == "fail"
        ]
    if len(_banner_cache) > 8:
        _banner_cache.clear()
    _banner_cache[key] = (ctx.config, messages)
    return messages


# --- the whole check ------------------------------------------------------------------------
