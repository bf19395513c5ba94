"""Who gets which message when: a person's contact plan and their fallback order. Pure.

A person's contact methods are their `contact_methods` plus the shorthand fields: `email:`
is an email method, `phone:` an SMS and a voice method, `slack:` a Slack method.

`contact_plan(user, urgency)` follows the person's `notification_rules` whose urgency is
`any` or the page's urgency; a rule naming a type reaches every method of that type, a
rule naming a label reaches that one method. Without such rules the defaults apply:

- high urgency: email, Slack, Teams and webhook methods at once, SMS after 1 minute,
  voice after 3 minutes;
- low urgency: email, Slack, Teams and webhook at once, no SMS or call — unless the person
  has no other method, then SMS at once (a page must reach someone).

`fallback_order(user, failed_channel)` lists what to try, at once, when a channel failed
permanently: the person's other methods in the order their high-urgency plan uses them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from warroom.config.people import ContactMethod, ContactMethodType, User, normalise_phone

Urgency = Literal["high", "low"]

_ORDER = {kind.value: i for i, kind in enumerate(ContactMethodType)}

#: (delay, channel) pairs used when a person has no rule for the page's urgency.
DEFAULT_HIGH_URGENCY: tuple[tuple[timedelta, ContactMethodType], ...] = (
    (timedelta(0), ContactMethodType.EMAIL),
    (timedelta(0), ContactMethodType.SLACK),
    (timedelta(0), ContactMethodType.TEAMS),
    (timedelta(0), ContactMethodType.WEBHOOK),
    (timedelta(minutes=1), ContactMethodType.SMS),
    (timedelta(minutes=3), ContactMethodType.VOICE),
)
DEFAULT_LOW_URGENCY: tuple[tuple[timedelta, ContactMethodType], ...] = (
    (timedelta(0), ContactMethodType.EMAIL),
    (timedelta(0), ContactMethodType.SLACK),
    (timedelta(0), ContactMethodType.TEAMS),
    (timedelta(0), ContactMethodType.WEBHOOK),
)


@dataclass(frozen=True, slots=True)
class PlannedContact:
    """Send to `address` on `channel`, `after` the page started."""

    after: timedelta
    channel: str
    address: str
    label: str | None = None


def contact_methods(user: User) -> list[ContactMethod]:
    """Every method of `user`: the explicit ones, then those the shorthand fields imply."""
    methods = list(user.contact_methods)
    implied: list[tuple[ContactMethodType, str]] = []
    if user.email:
        implied.append((ContactMethodType.EMAIL, user.email))
    if user.phone:
        phone = normalise_phone(user.phone)
        implied += [(ContactMethodType.SMS, phone), (ContactMethodType.VOICE, phone)]
    if user.slack:
        implied.append((ContactMethodType.SLACK, user.slack))
    known = {(m.type, m.address) for m in methods}
    for kind, address in implied:
        if (kind, address) not in known:
            methods.append(ContactMethod(type=kind, address=address))
            known.add((kind, address))
    return methods


def _matching(methods: list[ContactMethod], name: str) -> list[ContactMethod]:
    wanted = name.casefold()
    by_label = [m for m in methods if m.label and m.label.casefold() == wanted]
    return by_label or [m for m in methods if m.type.value == wanted]


def _sorted(contacts: list[PlannedContact]) -> list[PlannedContact]:
    unique = list(dict.fromkeys(contacts))
    return sorted(unique, key=lambda c: (c.after, _ORDER.get(c.channel, 99), c.address))


def contact_plan(user: User, urgency: Urgency) -> list[PlannedContact]:
    """When to reach `user` on which method for a page of `urgency` (module docstring)."""
    methods = contact_methods(user)
    rules = [r for r in user.notification_rules if r.urgency in ("any", urgency)]
    plan: list[PlannedContact] = []
    if rules:
        for rule in rules:
            plan += [
                PlannedContact(rule.after, m.type.value, m.address, m.label)
                for m in _matching(methods, rule.method)
            ]
        return _sorted(plan)
    defaults = DEFAULT_HIGH_URGENCY if urgency == "high" else DEFAULT_LOW_URGENCY
    for after, kind in defaults:
        plan += [
            PlannedContact(after, kind.value, m.address, m.label) for m in methods if m.type is kind
        ]
    if not plan:
        plan = [
            PlannedContact(timedelta(0), m.type.value, m.address, m.label)
            for m in methods
            if m.type is ContactMethodType.SMS
        ]
    return _sorted(plan)


def fallback_order(
    user: User, failed_channel: str, *, tried: Collection[str] = ()
) -> list[PlannedContact]:
    """The methods to try, in order and at once, after `failed_channel` failed permanently.

    Channels in `tried` (earlier fallbacks that failed too) are left out as well.
    """
    skip = {failed_channel, *tried}
    preferred = [c.channel for c in contact_plan(user, "high")]
    ranked = sorted(
        contact_methods(user),
        key=lambda m: (
            preferred.index(m.type.value) if m.type.value in preferred else len(preferred),
            _ORDER[m.type.value],
        ),
    )
    order = [
        PlannedContact(timedelta(0), m.type.value, m.address, m.label)
        for m in ranked
        if m.type.value not in skip
    ]
    return list(dict.fromkeys(order))
