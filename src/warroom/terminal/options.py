"""Options shared by the commands and the parsing of what people type."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

# --- shared options ---------------------------------------------------------------------

UrlOpt = Annotated[
    str,
    typer.Option(
        "--url", envvar="WARROOM_URL", help="The warroom server.", rich_help_panel="Server"
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="WARROOM_TOKEN",
        help="API token (never printed).",
        show_default=False,
        rich_help_panel="Server",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
IncidentArg = Annotated[
    str, typer.Argument(metavar="INCIDENT", help="The incident, e.g. INC-42.", show_default=False)
]
MessageOpt = Annotated[
    str | None, typer.Option("--message", "-m", help="A note for the timeline.", show_default=False)
]
PublicOpt = Annotated[
    bool,
    typer.Option(
        "--public",
        help="Publish the message as a public update on the status page (/status).",
    ),
]

ROLE_KEYS = (
    "incident_commander",
    "technical_lead",
    "communications_lead",
    "scribe",
    "sme",
    "operations_lead",
)
ROLE_ALIASES: dict[str, str] = {
    **{key: key for key in ROLE_KEYS},
    "ic": "incident_commander",
    "commander": "incident_commander",
    "incident_manager": "incident_commander",
    "tl": "technical_lead",
    "tech_lead": "technical_lead",
    "tech": "technical_lead",
    "lead": "technical_lead",
    "comms": "communications_lead",
    "comms_lead": "communications_lead",
    "communications": "communications_lead",
    "cl": "communications_lead",
    "notes": "scribe",
    "expert": "sme",
    "subject_matter_expert": "sme",
    "ops": "operations_lead",
    "ops_lead": "operations_lead",
    "operations": "operations_lead",
}


# --- small pure helpers (tests/unit/test_cli_parsing.py pins them) -----------------------


def role_key(name: str) -> str:
    """Map a role name or a friendly alias (`ic`, `tl`, `comms`...) to the API's role key."""
    normalised = re.sub(r"[\s\-]+", "_", name.strip().lower())
    try:
        return ROLE_ALIASES[normalised]
    except KeyError:
        aliases = ", ".join(sorted(a for a in ROLE_ALIASES if a not in ROLE_KEYS))
        raise typer.BadParameter(
            f"unknown role {name!r}; one of: {', '.join(ROLE_KEYS)} (aliases: {aliases})",
            param_hint="'ROLE'",
        ) from None


def parse_details(pairs: Sequence[str]) -> dict[str, Any]:
    """Turn `key=value` pairs into a dict; values that read as JSON (3, true, [..]) are typed."""
    details: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="'--detail'")
        try:
            value: Any = json.loads(raw, parse_constant=_not_a_json_constant)
        except ValueError:
            value = raw
        details[key] = value
    return details


def _not_a_json_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: keep them as the text that was typed.
    raise ValueError(name)


_RELATIVE = re.compile(r"^-?\s*(\d+(?:\.\d+)?)\s*([smhd])(?:\s*ago)?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str, *, now: datetime) -> datetime:
    """An event time: ISO 8601 (naive means local time), `HH:MM` today, `now`, or `15m ago`."""
    value = text.strip().lower()
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), _UNITS[relative.group(2)]
        return now - timedelta(**{unit: amount})
    local_now = now.astimezone()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value)
    if clock:
        hour, minute, second = (int(g or 0) for g in clock.groups())
        try:
            return local_now.replace(hour=hour, minute=minute, second=second, microsecond=0)
        except ValueError:
            pass
    else:
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=local_now.tzinfo)
            return parsed
    raise typer.BadParameter(
        f"{text!r} is not a time; use ISO 8601 (2024-03-15T09:30:00+00:00), HH:MM, "
        "'now' or '15m ago'",
        param_hint="'--at'",
    )
