"""What a notification says, per channel: pure functions of plain data.

`render(channel, context)` returns the subject, the plain-text body and the channel's
structured payload, ready to be stored on an outbox row:

- email: the seed's "Initial Incident Notification" shape — subject
  `[SEV1] INCIDENT: <title>` (with the configured severity name) and a plain-text body;
- sms: one line, at most 160 characters when that fits, never more than 320;
- voice: a short spoken sentence in `body`, and `payload["twiml"]` (`<Say>`, XML-escaped);
- slack: `payload["blocks"]` (Block Kit) with `body` as the notification fallback text;
- teams: `payload["card"]`, a MessageCard (or an Adaptive Card message, `teams_format`);
- webhook: `payload["document"]`, a versioned JSON document.

Nothing here reads a clock, the database or the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warroom.notifications.ports import Channel

SMS_TARGET = 160
SMS_LIMIT = 320
SUBJECT_LIMIT = 200
SLACK_HEADER_LIMIT = 150
SLACK_TEXT_LIMIT = 3000
WEBHOOK_VERSION = 1


class MessageKind(StrEnum):
    PAGE = "page"
    ESCALATION = "escalation"
    SLA = "sla"
    REMINDER = "reminder"
    SHIFT = "shift"
    STAFFING = "staffing"


_LABELS = {
    MessageKind.PAGE: "INCIDENT",
    MessageKind.ESCALATION: "ESCALATION",
    MessageKind.SLA: "SLA",
    MessageKind.REMINDER: "UPDATE DUE",
    MessageKind.SHIFT: "ON-CALL",
    MessageKind.STAFFING: "ROLES NEEDED",
}

# MessageCard theme colours: red pages, orange clocks, blue reminders, grey shifts.
_COLOURS = {
    MessageKind.PAGE: "D32F2F",
    MessageKind.ESCALATION: "D32F2F",
    MessageKind.SLA: "F57C00",
    MessageKind.REMINDER: "1976D2",
    MessageKind.SHIFT: "757575",
    MessageKind.STAFFING: "F57C00",
}


@dataclass(frozen=True, slots=True)
class TimelineLine:
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Everything a message may mention. Only `kind` and `title` are required.

    `title` is the incident's title (or, for a shift message, what the shift is);
    `reason` says why this person gets this message ("Escalation step 2: primary did not
    acknowledge within 5 minutes"). Times are shown in `timezone` (the recipient's).
    """

    kind: MessageKind
    title: str
    incident: str | None = None
    severity: str | None = None
    status: str | None = None
    reason: str = ""
    ack_url: str | None = None
    incident_url: str | None = None
    services: tuple[str, ...] = ()
    timeline: tuple[TimelineLine, ...] = ()
    started_at: datetime | None = None
    commander: str | None = None
    schedule: str | None = None
    shift_start: datetime | None = None
    shift_end: datetime | None = None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


def render(
    channel: str,
    context: MessageContext,
    *,
    teams_format: Literal["messagecard", "adaptive"] = "messagecard",
) -> RenderedMessage:
    """Render `context` for `channel`; ValueError for an unknown channel."""
    try:
        kind = Channel(channel)
    except ValueError:
        raise ValueError(f"unknown channel {channel!r}") from None
    if kind is Channel.TEAMS:
        return render_teams(context, format=teams_format)
    renderers: dict[Channel, Callable[[MessageContext], RenderedMessage]] = {
        Channel.EMAIL: render_email,
        Channel.SMS: render_sms,
        Channel.VOICE: render_voice,
        Channel.SLACK: render_slack,
        Channel.WEBHOOK: render_webhook,
    }
    return renderers[kind](context)


# --- shared pieces ----------------------------------------------------------------------


def one_line(text: str) -> str:
    """Collapse whitespace (and so newlines, which would break a mail header)."""
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 3:
        return text[:limit]
    return text[: limit - 3].rstrip() + "..."


def subject_line(context: MessageContext) -> str:
    """`[SEV1] INCIDENT: Checkout is down` — the seed's subject, with the configured name."""
    label = _LABELS[context.kind]
    prefix = f"[{one_line(context.severity)}] " if context.severity else ""
    return truncate(f"{prefix}{label}: {one_line(context.title)}", SUBJECT_LIMIT)


def format_time(value: datetime, timezone: str) -> str:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _facts(context: MessageContext) -> list[tuple[str, str]]:
    """The labelled details every rich channel shows, in the seed's order."""
    facts: list[tuple[str, str]] = []
    if context.severity:
        facts.append(("Severity", context.severity))
    if context.services:
        facts.append(("System", ", ".join(context.services)))
    if context.status:
        facts.append(("Status", context.status))
    if context.started_at is not None:
        facts.append(("Started", format_time(context.started_at, context.timezone)))
    if context.incident:
        facts.append(("Incident ID", context.incident))
    if context.schedule:
        facts.append(("Schedule", context.schedule))
    if context.shift_start is not None:
        facts.append(("Shift starts", format_time(context.shift_start, context.timezone)))
    if context.shift_end is not None:
        facts.append(("Shift ends", format_time(context.shift_end, context.timezone)))
    if context.commander:
        facts.append(("Incident Commander", context.commander))
    return facts


def _timeline(context: MessageContext) -> list[str]:
    return [
        f"{format_time(line.at, context.timezone)}  {one_line(line.text)}"
        for line in context.timeline
    ]


# --- email ------------------------------------------------------------------------------


def render_email(context: MessageContext) -> RenderedMessage:
    details = "INCIDENT DETAILS" if context.kind is not MessageKind.SHIFT else "SHIFT DETAILS"
    lines = [one_line(context.title), ""]
    facts = _facts(context)
    if facts:
        lines.append(f"{details}:")
        lines.extend(f"- {name}: {value}" for name, value in facts)
        lines.append("")
    if context.reason:
        lines += ["WHY YOU ARE RECEIVING THIS:", f"- {one_line(context.reason)}", ""]
    timeline = _timeline(context)
    if timeline:
        lines.append("RECENT TIMELINE:")
        lines.extend(f"- {line}" for line in timeline)
        lines.append("")
    if context.ack_url:
        lines += ["ACKNOWLEDGE:", context.ack_url, ""]
    if context.incident_url:
        lines += ["VIEW THE INCIDENT:", context.incident_url, ""]
    lines.append("-- ")
    lines.append("Sent by warroom. Reply-to is not monitored.")
    return RenderedMessage(subject=subject_line(context), body="\n".join(lines) + "\n")


# --- sms --------------------------------------------------------------------------------


def render_sms(context: MessageContext) -> RenderedMessage:
    """`[SEV1] INCIDENT INC-42: Checkout is down (investigating) Ack: https://…`."""
    head = f"[{one_line(context.severity)}] " if context.severity else ""
    head += _LABELS[context.kind]
    if context.incident:
        head += f" {context.incident}"
    head += ": "
    status = f" ({one_line(context.status)})" if context.status else ""
    ack = f" Ack: {context.ack_url}" if context.ack_url else ""
    reason = f" {one_line(context.reason)}" if context.reason else ""
    title = one_line(context.title)

    def compose(title_text: str, with_reason: bool) -> str:
        return f"{head}{title_text}{status}{reason if with_reason else ''}{ack}"

    for limit in (SMS_TARGET, SMS_LIMIT):
        for with_reason in (True, False):
            full = compose(title, with_reason)
            if len(full) <= limit:
                return RenderedMessage(subject="", body=full)
        room = limit - len(compose("", False))
        if room >= 20:
            return RenderedMessage(subject="", body=compose(truncate(title, room), False))
    # Only an absurdly long link gets here: the link matters more than the title.
    return RenderedMessage(subject="", body=truncate(compose(title, False), SMS_LIMIT))


# --- voice ------------------------------------------------------------------------------


def render_voice(context: MessageContext) -> RenderedMessage:
    """A sentence a phone can read out; repeated once so a sleepy listener catches it."""
    parts = ["This is warroom."]
    if context.kind is MessageKind.SHIFT:
        parts.append(truncate(one_line(context.title), 160) + ".")
    else:
        what = {
            MessageKind.PAGE: "You are paged for",
            MessageKind.ESCALATION: "Escalation for",
            MessageKind.SLA: "SLA warning for",
            MessageKind.REMINDER: "An update is due for",
            MessageKind.STAFFING: "Roles are still empty for",
        }[context.kind]
        severity = f" {context.severity}" if context.severity else ""
        key = f" {context.incident}" if context.incident else ""
        parts.append(f"{what}{severity} incident{key}: {truncate(one_line(context.title), 160)}.")
        if context.status:
            parts.append(f"Status: {one_line(context.status)}.")
    if context.reason:
        parts.append(truncate(one_line(context.reason), 160).rstrip(".") + ".")
    if context.ack_url:
        parts.append("Acknowledge with the link sent to you by text, email or chat.")
    text = " ".join(parts)
    return RenderedMessage(subject="", body=text, payload={"twiml": say_twiml(text)})


def say_twiml(text: str) -> str:
    """TwiML that reads `text` out twice (XML-escaped: a title may hold `<` or `&`)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Response><Say loop="2">{xml_escape(text)}</Say></Response>'
    )


# --- slack ------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and > (they start entities and links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(context: MessageContext) -> RenderedMessage:
    subject = subject_line(context)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(subject, SLACK_HEADER_LIMIT)},
        }
    ]
    facts = _facts(context)
    if facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{slack_escape(truncate(value, 1900))}"}
                    for name, value in facts[:10]
                ],
            }
        )
    if context.reason:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": slack_escape(truncate(context.reason, 2000))}
                ],
            }
        )
    timeline = _timeline(context)
    if timeline:
        text = "*Recent timeline*\n" + "\n".join(f"• {slack_escape(t)}" for t in timeline)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(text, SLACK_TEXT_LIMIT)},
            }
        )
    buttons: list[dict[str, Any]] = []
    if context.ack_url:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "style": "primary",
                "url": context.ack_url,
                "action_id": "warroom_ack",
            }
        )
    if context.incident_url:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open incident"},
                "url": context.incident_url,
                "action_id": "warroom_open",
            }
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    # `text` is what notifications and screen readers show; blocks are the message itself.
    fallback = subject + (f" - acknowledge: {context.ack_url}" if context.ack_url else "")
    return RenderedMessage(subject=subject, body=fallback, payload={"blocks": blocks})


# --- teams ------------------------------------------------------------------------------


def render_teams(
    context: MessageContext, *, format: Literal["messagecard", "adaptive"] = "messagecard"
) -> RenderedMessage:
    """A MessageCard for classic incoming webhooks, or an Adaptive Card for Workflows."""
    subject = subject_line(context)
    facts = _facts(context)
    timeline = _timeline(context)
    links = [("Acknowledge", context.ack_url), ("Open incident", context.incident_url)]
    card: dict[str, Any]
    if format == "adaptive":
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium",
             "wrap": True},
        ]  # fmt: skip
        if context.reason:
            body.append({"type": "TextBlock", "text": context.reason, "wrap": True})
        if facts:
            body.append({"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in facts]})
        if timeline:
            body.append({"type": "TextBlock", "text": "\n\n".join(timeline), "wrap": True})
        card = {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                        "actions": [
                            {"type": "Action.OpenUrl", "title": title, "url": url}
                            for title, url in links
                            if url
                        ],
                    },
                }
            ],
        }
    else:
        section: dict[str, Any] = {"facts": [{"name": n, "value": v} for n, v in facts]}
        if context.reason:
            section["text"] = context.reason
        sections = [section]
        if timeline:
            sections.append({"title": "Recent timeline", "text": "\n\n".join(timeline)})
        card = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": subject,
            "title": subject,
            "themeColor": _COLOURS[context.kind],
            "sections": sections,
            "potentialAction": [
                {"@type": "OpenUri", "name": title, "targets": [{"os": "default", "uri": url}]}
                for title, url in links
                if url
            ],
        }
    return RenderedMessage(subject=subject, body=subject, payload={"card": card})


# --- webhook ----------------------------------------------------------------------------


def render_webhook(context: MessageContext) -> RenderedMessage:
    """`{"version": 1, "event": "incident.page", "incident": {...}, "ack_url": ..., ...}`."""
    subject = subject_line(context)
    document: dict[str, Any] = {
        "version": WEBHOOK_VERSION,
        "event": f"{'oncall' if context.kind is MessageKind.SHIFT else 'incident'}.{context.kind}",
        "subject": subject,
        "reason": context.reason,
        "ack_url": context.ack_url,
    }
    if context.kind is MessageKind.SHIFT:
        document["shift"] = {
            "title": context.title,
            "schedule": context.schedule,
            "starts_at": _iso(context.shift_start),
            "ends_at": _iso(context.shift_end),
        }
    else:
        document["incident"] = {
            "key": context.incident,
            "title": context.title,
            "severity": context.severity,
            "status": context.status,
            "services": list(context.services),
            "started_at": _iso(context.started_at),
            "commander": context.commander,
            "url": context.incident_url,
        }
        document["timeline"] = [{"at": _iso(t.at), "text": t.text} for t in context.timeline]
    return RenderedMessage(subject=subject, body=subject, payload={"document": document})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
