"""Classification and triage commands (remote): questions asked at the terminal."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.text import Text

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, err, fail, out, print_json

app = typer.Typer()


# --- remote: classify and triage --------------------------------------------------------


def number_answer(low: float, high: float | None = None) -> Any:
    """A prompt's reader for a number in [low, high]; a bad answer makes the prompt ask again."""

    def read(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise typer.BadParameter(f"{text.strip()!r} is not a number") from None
        if value != value or value < low or (high is not None and value > high):  # NaN too
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise typer.BadParameter(f"{value:g} is not {bounds}")
        return value

    return read


def yes_no_answer(text: str) -> bool:
    """A prompt's reader for y/n (yes/no, true/false, 1/0)."""
    answer = text.strip().lower()
    if answer in ("y", "yes", "true", "1"):
        return True
    if answer in ("n", "no", "false", "0"):
        return False
    raise typer.BadParameter(f"{text.strip()!r}: answer y or n")


def _ask(prompt: str, read: Any, *, to_stderr: bool) -> Any:
    """Ask one question until the answer reads; running out of input is a usage error.

    The answers come from stdin, a terminal or a pipe alike, so that
    `printf '15\\n30\\n...' | warroom classify` answers the questions in order.
    """
    stream = sys.stderr if to_stderr else sys.stdout
    piped = not sys.stdin.isatty()
    while True:
        stream.write(f"{prompt}: ")
        stream.flush()
        line = sys.stdin.readline()
        if not line:
            stream.write("\n")
            fail("stdin ended before every question was answered; give the values as options", 2)
        answer = line.strip()
        if piped:
            # Nobody typed it: show it, so that the transcript reads like a session.
            stream.write(answer + "\n")
        if not answer:
            continue
        try:
            return read(answer)
        except typer.BadParameter as exc:
            stream.write(f"Error: {exc.message}\n")


def _ask_yes_no(prompt: str, *, to_stderr: bool) -> bool:
    return bool(_ask(f"{prompt} (y/n)", yes_no_answer, to_stderr=to_stderr))


def _print_classification(result: Mapping[str, Any]) -> None:
    req: Mapping[str, Any] = result.get("requirements") or {}
    rule = "=" * 40
    out.print(rule)
    out.print(Text(f"SEVERITY: {result['severity']}", style="bold"))
    out.print(rule)
    out.print(Text(f"Why: {result.get('explanation', '')}"))
    rows = (
        ("Response time", req.get("response_time")),
        ("Update frequency", req.get("update_frequency")),
        ("Required roles", ", ".join(req.get("required_roles") or [])),
        ("Status page", req.get("status_page")),
        ("Notify leadership", req.get("leadership_notification")),
        ("Bridge call needed", req.get("bridge_call")),
    )
    for label, value in rows:
        if value is not None:
            out.print(Text(f"{label}: {value}"))


@app.command()
def classify(
    error_rate: Annotated[
        float | None,
        typer.Option(
            "--error-rate", min=0, max=100, help="Current error rate (%).", show_default=False
        ),
    ] = None,
    affected_users: Annotated[
        float | None,
        typer.Option(
            "--affected-users", min=0, max=100, help="Affected users (%).", show_default=False
        ),
    ] = None,
    revenue: Annotated[
        float | None,
        typer.Option("--revenue", min=0, help="Revenue impact per hour ($).", show_default=False),
    ] = None,
    security: Annotated[
        bool | None, typer.Option("--security/--no-security", show_default=False)
    ] = None,
    data_loss: Annotated[
        bool | None, typer.Option("--data-loss/--no-data-loss", show_default=False)
    ] = None,
    core_feature: Annotated[
        bool | None, typer.Option("--core-feature/--no-core-feature", show_default=False)
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify severity from impact (seed 000); asks for whatever the options leave out.

    Without a terminal the answers are read from stdin, one a line, in the order:
    error rate, affected users, revenue, security, data loss, core feature.
    """
    missing = None in (error_rate, affected_users, revenue, security, data_loss, core_feature)
    # With --json the questions go to stderr so that stdout stays parseable.
    to_stderr = as_json
    if missing:
        header = "Incident Severity Classifier\n" + "-" * 40
        (err if to_stderr else out).print(header)
    if error_rate is None:
        error_rate = _ask("Current error rate (%)", number_answer(0, 100), to_stderr=to_stderr)
    if affected_users is None:
        affected_users = _ask("Affected users (%)", number_answer(0, 100), to_stderr=to_stderr)
    if revenue is None:
        revenue = _ask("Revenue impact per hour ($)", number_answer(0), to_stderr=to_stderr)
    if security is None:
        security = _ask_yes_no("Security incident?", to_stderr=to_stderr)
    if data_loss is None:
        data_loss = _ask_yes_no("Data loss occurred?", to_stderr=to_stderr)
    if core_feature is None:
        core_feature = _ask_yes_no("Core feature affected?", to_stderr=to_stderr)
    body = {
        "error_rate_percent": error_rate,
        "affected_users_percent": affected_users,
        "revenue_impact_per_hour": revenue,
        "is_security_incident": security,
        "is_data_loss": data_loss,
        "core_feature_affected": core_feature,
    }
    with api(url, token) as client:
        result = client.post(f"{API}/classify", body)
    if as_json:
        print_json(result)
        return
    if missing:
        out.print()
    _print_classification(result)


@app.command()
def triage(
    impact: Annotated[
        str,
        typer.Option("--impact", help="service_outage, service_degradation, data_breach, ..."),
    ],
    urgency: Annotated[str, typer.Option("--urgency", help="immediate, high, medium or low.")],
    affected_users: Annotated[int, typer.Option("--affected-users", min=0)] = 0,
    service: Annotated[str | None, typer.Option("--service", show_default=False)] = None,
    incident: Annotated[
        str | None,
        typer.Option(
            "--incident",
            help="Update this incident (a new one is declared when it does not exist).",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option("--title", help="Title of a declared incident.", show_default=False),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Triage a report (seed 003): priority, severity, teams; declare or update the incident."""
    body: dict[str, Any] = {"impact": impact, "urgency": urgency, "affected_users": affected_users}
    optional = {"service": service, "incident": incident, "title": title}
    body.update({k: v for k, v in optional.items() if v is not None})
    with api(url, token) as client:
        data = client.post(f"{API}/triage", body)
    if as_json:
        print_json(data)
        return
    outcome: Mapping[str, Any] = data["triage"]
    found: Mapping[str, Any] = data["incident"]
    out.print(Text(f"Priority: {outcome['priority']}", style="bold"))
    out.print(Text(f"Severity: {outcome['severity']}"))
    out.print(Text(f"Teams: {', '.join(outcome.get('teams') or []) or '—'}"))
    if outcome.get("incident_type"):
        out.print(Text(f"Incident type: {outcome['incident_type']}"))
    if outcome.get("explanation"):
        out.print("Why:")
        for step in outcome["explanation"]:
            out.print(Text(f"  - {step}"))
    action = data["action"]
    out.print(
        Text(
            f"{action.capitalize()} {found['id']}: {found['title']} "
            f"({found['severity']}, {found['status']})",
            style="bold",
        )
    )
