"""Pure chat rules: Slack request signatures, channel names, messages, `/incident` parsing.

No database, no network, no clock reads: the caller passes `now`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Slack refuses replays older than five minutes; so do we, both ways (clock skew).
SIGNATURE_WINDOW_SECONDS = 300
CHANNEL_NAME_LIMIT = 80
ROLE_LABELS = {
    "incident_commander": "Incident commander",
    "technical_lead": "Technical lead",
    "communications_lead": "Communications lead",
    "scribe": "Scribe",
    "sme": "Subject-matter expert",
    "operations_lead": "Operations lead",
}
ROLE_ALIASES = {
    "ic": "incident_commander",
    "commander": "incident_commander",
    "tl": "technical_lead",
    "tech": "technical_lead",
    "comms": "communications_lead",
    "cl": "communications_lead",
    "ops": "operations_lead",
}


# --- signatures -------------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of a request: HMAC-SHA256 of `v0:<timestamp>:<body>`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_problem(
    *, secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> str | None:
    """Why a request is not Slack's (None when it is): missing, stale or wrong signature."""
    if not timestamp or not signature:
        return "missing X-Slack-Signature or X-Slack-Request-Timestamp"
    try:
        sent = int(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a number"
    if abs(now.timestamp() - sent) > SIGNATURE_WINDOW_SECONDS:
        return "X-Slack-Request-Timestamp is outside the 5-minute window"
    expected = slack_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return "X-Slack-Signature does not match"
    return None


# --- channel names ----------------------------------------------------------------------


def slug(text: str) -> str:
    """Lower-case ASCII letters, digits and single hyphens (Slack's channel name rules)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")


def channel_name(pattern: str, *, number: int, title: str, severity: str, at: datetime) -> str:
    """The channel's name from the configured pattern, slugged and at most 80 characters."""
    fixed = (
        pattern.replace("{number}", str(number))
        .replace("{severity}", severity)
        .replace("{date}", at.strftime("%Y%m%d"))
    )
    if "{title}" not in fixed:
        return slug(fixed)[:CHANNEL_NAME_LIMIT].strip("-_") or f"inc-{number}"
    head, _, tail = fixed.partition("{title}")
    head, tail = slug(head), slug(tail.replace("{title}", ""))
    room = CHANNEL_NAME_LIMIT - len(head) - len(tail) - 2
    title_part = slug(title)[: max(room, 0)].strip("-_")
    name = "-".join(part for part in (head, title_part, tail) if part)
    return name[:CHANNEL_NAME_LIMIT].strip("-_") or f"inc-{number}"


def with_suffix(name: str, attempt: int) -> str:
    """The name to try after `attempt` collisions: `name`, `name-2`, `name-3`…"""
    if attempt <= 1:
        return name
    suffix = f"-{attempt}"
    return name[: CHANNEL_NAME_LIMIT - len(suffix)].rstrip("-_") + suffix


# --- messages ---------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role.replace("_", " ").capitalize())


@dataclass(frozen=True)
class IncidentView:
    """What chat messages show of an incident."""

    key: str
    title: str
    severity: str
    status: str
    roles: dict[str, str]
    services: tuple[str, ...] = ()
    url: str = ""
    required_roles: tuple[str, ...] = ()
    people: dict[str, str] = field(default_factory=dict)  # handle -> display name
    bridge_url: str = ""


def _who(view: IncidentView, handle: str | None) -> str:
    if not handle:
        return "unassigned"
    return view.people.get(handle, handle)


def topic(view: IncidentView) -> str:
    """The channel topic: `SEV1 - Payment processing failing - IC: Jane - investigating`."""
    commander = _who(view, view.roles.get("incident_commander"))
    text = f"{view.severity} - {view.title} - IC: {commander} - {view.status}"
    return text[:250]


def opening_blocks(view: IncidentView) -> list[dict[str, Any]]:
    """The opening message: the incident, its severity, status, roles and buttons."""
    roles = list(dict.fromkeys([*view.required_roles, *view.roles]))
    if "incident_commander" not in roles:
        roles.insert(0, "incident_commander")
    role_lines = "\n".join(
        f"• {role_label(r)}: {escape(_who(view, view.roles.get(r)))}" for r in roles
    )
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{escape(view.severity)}"},
        {"type": "mrkdwn", "text": f"*Status*\n{escape(view.status)}"},
    ]
    if view.services:
        fields.append({"type": "mrkdwn", "text": "*Services*\n" + escape(", ".join(view.services))})
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{view.key}: {view.title}"[:150]},
        },
        {"type": "section", "fields": fields},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Roles*\n{role_lines}"}},
    ]
    if view.bridge_url:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Bridge*: <{view.bridge_url}|join the call>"},
            }
        )
    if view.url:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{view.url}|Open {view.key} in warroom>"}
                ],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "block_id": f"warroom:{view.key}",
            "elements": [
                _button("Acknowledge", "warroom_ack", view.key),
                _button("Claim incident commander", "warroom_claim_ic", view.key),
                _button("Update status", "warroom_update_status", view.key),
                _button("Resolve", "warroom_resolve", view.key, style="danger"),
            ],
        }
    )
    return blocks


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def opening_text(view: IncidentView) -> str:
    return f"{view.key} declared at {view.severity}: {escape(view.title)}"


# --- /incident ----------------------------------------------------------------------------

COMMANDS = (
    "declare",
    "ack",
    "status",
    "severity",
    "assign",
    "claim",
    "note",
    "update",
    "handoff",
    "resolve",
    "help",
)
HELP = """*`/incident` commands*
• `declare [SEVERITY] TITLE` - declare an incident (and open its channel)
• `ack [INC-N]` - acknowledge
• `status [INC-N] STATUS [message]` - investigating, identified, monitoring, resolved
• `severity [INC-N] SEVERITY [reason]` - upgrade or downgrade
• `assign [INC-N] ROLE @user` - give a role (ic, tl, comms, scribe, sme, ops)
• `claim [INC-N] ROLE` - take a role yourself
• `note [INC-N] TEXT` - add a note to the timeline
• `update [INC-N] AUDIENCE[,AUDIENCE] MESSAGE` - a stakeholder update (internal, \
executive, technical, customer)
• `handoff [INC-N] @user` - draft a handoff of command; `handoff [INC-N] confirm` - \
the incoming commander takes over
• `resolve [INC-N] [message]` - resolve
Inside an incident's channel the incident can be left out."""

_KEY = re.compile(r"^(?:INC-)?(\d{1,12})$", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    verb: str
    incident: str | None = None  # INC-N when given
    args: tuple[str, ...] = ()
    rest: str = ""  # free text after the arguments


class CommandError(ValueError):
    """The command cannot be understood; the message says what is expected."""


def parse_command(text: str) -> Command:
    """Split `/incident` text into its verb, an optional INC-N and its arguments."""
    words = text.split()
    if not words:
        return Command("help")
    verb = words[0].lower()
    if verb not in COMMANDS:
        raise CommandError(f"unknown command {words[0]!r}; one of: {', '.join(COMMANDS)}")
    rest_words = words[1:]
    if verb == "declare":
        return Command(verb, args=tuple(rest_words[:1]), rest=" ".join(rest_words))
    incident = None
    if rest_words and _KEY.match(rest_words[0]) and verb != "help":
        match = _KEY.match(rest_words[0])
        assert match is not None
        incident = f"INC-{int(match.group(1))}"
        rest_words = rest_words[1:]
    wanted = {"status": 1, "severity": 1, "assign": 2, "claim": 1, "update": 1, "handoff": 1}
    if len(rest_words) < wanted.get(verb, 0) or (verb == "update" and len(rest_words) < 2):
        usage = {
            "update": "update [INC-N] AUDIENCE[,AUDIENCE] MESSAGE",
            "handoff": "handoff [INC-N] @user | confirm",
            "status": "status [INC-N] STATUS [message]",
            "severity": "severity [INC-N] SEVERITY [reason]",
            "assign": "assign [INC-N] ROLE @user",
            "claim": "claim [INC-N] ROLE",
        }[verb]
        raise CommandError(f"usage: /incident {usage}")
    count = wanted.get(verb, 0)
    return Command(verb, incident, tuple(rest_words[:count]), " ".join(rest_words[count:]).strip())


def role_name(text: str) -> str:
    """`ic`, `IC`, `incident_commander`, `incident-commander` → `incident_commander`."""
    name = text.strip().lower().replace("-", "_")
    return ROLE_ALIASES.get(name, name)


def mentioned_user(text: str) -> tuple[str | None, str]:
    """A Slack mention `<@U123|name>` → (`U123`, `name`); `@bob`/`bob` → (None, `bob`)."""
    match = re.match(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$", text)
    if match:
        return match.group(1), match.group(2) or ""
    return None, text.lstrip("@")


# --- modals -------------------------------------------------------------------------------

DECLARE_CALLBACK = "warroom_declare"


def declare_modal(severities: list[str], channel_id: str) -> dict[str, Any]:
    """The declare form (`views.open`): title and severity."""
    options = [{"text": {"type": "plain_text", "text": name}, "value": name} for name in severities]
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "private_metadata": channel_id,
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "What is happening?"},
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 255},
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {"type": "static_select", "action_id": "value", "options": options},
            },
        ],
    }


RESOLVE_CALLBACK = "warroom_resolve"


def resolve_modal(key: str, title: str) -> dict[str, Any]:
    """The resolve form (`views.open`): how it was resolved; the incident rides along."""
    return {
        "type": "modal",
        "callback_id": RESOLVE_CALLBACK,
        "private_metadata": key,
        "title": {"type": "plain_text", "text": f"Resolve {key}"[:24]},
        "submit": {"type": "plain_text", "text": "Resolve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": title[:3000]}},
            {
                "type": "input",
                "block_id": "message",
                "label": {"type": "plain_text", "text": "How was it resolved?"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
        ],
    }


STATUS_CALLBACK = "warroom_status"


def status_modal(key: str, statuses: list[str]) -> dict[str, Any]:
    """The status form (`views.open`): the new status and a message; the incident rides along."""
    options = [{"text": {"type": "plain_text", "text": name}, "value": name} for name in statuses]
    return {
        "type": "modal",
        "callback_id": STATUS_CALLBACK,
        "private_metadata": key,
        "title": {"type": "plain_text", "text": f"Update {key}"[:24]},
        "submit": {"type": "plain_text", "text": "Update"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "status",
                "label": {"type": "plain_text", "text": "Status"},
                "element": {"type": "static_select", "action_id": "value", "options": options},
            },
            {
                "type": "input",
                "block_id": "message",
                "optional": True,
                "label": {"type": "plain_text", "text": "What changed?"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
        ],
    }


def submitted(view: dict[str, Any], block: str) -> str:
    """The value a modal's input block holds (text or selected option), or ''."""
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, dict) else None
    element = ((values or {}).get(block) or {}).get("value") or {}
    if not isinstance(element, dict):
        return ""
    option = element.get("selected_option")
    if isinstance(option, dict):
        return str(option.get("value") or "")
    return str(element.get("value") or "").strip()
