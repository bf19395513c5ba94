"""What `warroom doctor` says about chat: Slack's settings, and optionally `auth.test`.

Secrets (the bot token, the signing secret, webhook URLs) are only said to be set or not,
never shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warroom.adapters.channels import Finding, Level
from warroom.notifications.ports import PermanentFailure, TemporaryFailure

if TYPE_CHECKING:
    from warroom.config.schema import WarroomConfig
    from warroom.settings import Settings

AREA = "chat"


def _count(items: list[str], what: str) -> str:
    if not items:
        return "none"
    return f"{len(items)} {what}{'' if len(items) == 1 else 's'}"


def chat_findings(
    settings: Settings, config: WarroomConfig | None, *, ask_slack: bool = False
) -> list[Finding]:
    """Slack (enabled, token, signing secret; `auth.test` when `ask_slack`), then the
    Teams and Mattermost webhooks."""
    enabled = config is not None and config.chat.slack.enabled
    token = settings.slack_token
    secret = settings.slack_signing_secret
    findings: list[Finding] = []
    if not enabled and token is None:
        findings.append(
            Finding(
                AREA,
                "ok",
                "Slack: not configured (chat.slack.enabled is false, WARROOM_SLACK_TOKEN is "
                "not set): incidents run without a Slack channel",
            )
        )
    else:
        said = [
            f"Slack: incident channels {'on' if enabled else 'off'} (chat.slack.enabled)",
            "bot token set" if token is not None else "WARROOM_SLACK_TOKEN not set",
            "signing secret set" if secret is not None else "WARROOM_SLACK_SIGNING_SECRET not set",
            f"Web API {settings.slack_base_url}",
        ]
        level: Level = "ok"
        if enabled and token is None:
            level = "warn"
            said.append("incident channels wait in the chat outbox until the token is set")
        if enabled and secret is None:
            level = "warn"
            said.append("/incident, buttons and events are refused (401) without the secret")
        findings.append(Finding(AREA, level, "; ".join(said)))
    if ask_slack and token is not None:
        findings.append(_auth_test(settings, token.get_secret_value()))
    if config is not None:
        teams = _count(config.chat.teams_webhooks, "incoming webhook")
        mattermost = _count(config.chat.mattermost_webhooks, "incoming webhook")
        findings.append(Finding(AREA, "ok", f"Teams: {teams}; Mattermost: {mattermost}"))
    return findings


def _auth_test(settings: Settings, token: str) -> Finding:
    from warroom.chat.adapters import SlackChat

    slack = SlackChat(token=token, base_url=settings.slack_base_url, timeout=5.0)
    try:
        who = slack.identity()
    except TemporaryFailure as exc:
        return Finding(AREA, "warn", _said(exc.reason))
    except PermanentFailure as exc:
        # A token Slack refuses: Slack pages (channel `slack`) would not get through either.
        return Finding(AREA, "fail", _said(exc.reason))
    return Finding(
        AREA, "ok", f"Slack auth.test: the token works, as {who['user']} in {who['team']}"
    )


def _said(reason: str) -> str:
    return reason if reason.startswith("Slack auth.test") else f"Slack auth.test: {reason}"
