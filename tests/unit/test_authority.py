"""The authority rules as a table: role held, action and severity → allowed, or refused with
the name of who may act (issue 9, item 6). Seed 000's defaults over the example config."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from warroom.auth.logic import Principal, Role
from warroom.authority.logic import decide, missing_roles, staffing_time
from warroom.config.authority import Action, ActionRule, AuthorityConfig
from warroom.config.schema import WarroomConfig
from warroom.configuration import load_config, validate_path

ROOT = Path(__file__).resolve().parents[2]

HOLDERS = {
    "incident_commander": "jane.smith",
    "technical_lead": "mike.chen",
    "communications_lead": "sarah.lee",
}
ACTORS = {
    "IC": Principal("jane", Role.RESPONDER, "jane.smith"),
    "TL": Principal("mike", Role.RESPONDER, "mike.chen"),
    "comms": Principal("sarah", Role.RESPONDER, "sarah.lee"),
    "no role": Principal("bob", Role.RESPONDER, "bob.wilson"),
    "team token": Principal("ci", Role.RESPONDER, None),
    "admin": Principal("root", Role.ADMIN, None),
}
IC_ONLY = "the Incident Commander (jane.smith)"
IC_OR_TL = "the Incident Commander (jane.smith) or the Technical Lead (mike.chen)"
ROLLBACK = "Rollback to previous deployment"
SCHEMA = "Database schema changes"

# (action, subject, who may act at SEV1/SEV2, at SEV3, at SEV4); None: anyone.
RULES: list[tuple[Action, str, str | None, str | None, str | None]] = [
    (Action.CHANGE_SEVERITY, "", IC_ONLY, None, None),
    (Action.ASSIGN_ROLES, "", IC_ONLY, None, None),
    (Action.RESOLVE, "", IC_ONLY, None, None),
    # The TL's `can_authorize`: the TL too, wherever a TL or an IC is required.
    (Action.AUTHORIZE, ROLLBACK, IC_OR_TL, IC_OR_TL, None),
    (Action.AUTHORIZE, "scale INFRASTRUCTURE resources", IC_OR_TL, IC_OR_TL, None),
    # The TL's `requires_ic_approval`: only the IC, and only where an IC is required.
    (Action.AUTHORIZE, SCHEMA, IC_ONLY, None, None),
    (Action.AUTHORIZE, "Customer data access", IC_ONLY, None, None),
    # Anything else is the IC's decision (seed 000: "Authorize changes and rollbacks").
    (Action.AUTHORIZE, "Restart the primary database", IC_ONLY, None, None),
]
VERBS = {
    Action.CHANGE_SEVERITY: "change the severity of",
    Action.ASSIGN_ROLES: "assign roles on",
    Action.RESOLVE: "resolve or close",
}


def _cases() -> list[tuple[Action, str, str, str, str | None]]:
    cases = []
    for action, subject, high, sev3, sev4 in RULES:
        for severity, who in (("SEV1", high), ("SEV2", high), ("SEV3", sev3), ("SEV4", sev4)):
            for actor in ACTORS:
                cases.append((action, subject, severity, actor, who))
    return cases


@pytest.mark.parametrize(("action", "subject", "severity", "actor", "who"), _cases())
def test_the_authority_table(
    config: WarroomConfig, action: Action, subject: str, severity: str, actor: str, who: str | None
) -> None:
    decision = decide(
        config,
        action=action,
        severity=severity,
        holders=HOLDERS,
        actor=ACTORS[actor],
        subject=subject,
    )
    user = ACTORS[actor].user
    holder_may = who is not None and user is not None and f"({user})" in who
    if who is None or holder_may:
        assert decision.allowed and not decision.override, decision
        return
    verb = VERBS.get(action) or f"authorize {subject!r} on"
    expected = f"only {who} may {verb} a {severity} incident (or an admin)"
    assert decision.message == expected
    if actor == "admin":
        assert decision.allowed and decision.override  # allowed, and recorded as an override
    else:
        assert not decision.allowed and not decision.override


def test_the_table_covers_refusals_and_permissions(config: WarroomConfig) -> None:
    outcomes = {
        decide(config, action=a, severity=s, holders=HOLDERS, actor=ACTORS[p], subject=x).allowed
        for a, x, s, p, _ in _cases()
    }
    assert outcomes == {True, False}


def test_while_nobody_commands_any_responder_acts_unless_configured_otherwise(
    config: WarroomConfig,
) -> None:
    bob = ACTORS["no role"]
    for action in (Action.CHANGE_SEVERITY, Action.ASSIGN_ROLES, Action.RESOLVE):
        assert decide(config, action=action, severity="SEV1", holders={}, actor=bob).allowed
    # A TL alone does not make the IC's decisions: nobody holds the IC role, so anyone may.
    assert decide(
        config, action=Action.AUTHORIZE, severity="SEV1", holders={"technical_lead": "x"},
        actor=bob, subject=SCHEMA,
    ).allowed  # fmt: skip
    strict = _with(config, AuthorityConfig(actions={"resolve": ActionRule(when_vacant="admin")}))
    refused = decide(strict, action=Action.RESOLVE, severity="SEV2", holders={}, actor=bob)
    assert not refused.allowed
    assert refused.message == (
        "only an admin may resolve or close a SEV2 incident while nobody is the Incident Commander"
    )
    # The other actions kept their defaults.
    assert decide(
        strict, action=Action.ASSIGN_ROLES, severity="SEV2", holders={}, actor=bob
    ).allowed


def _with(config: WarroomConfig, authority: AuthorityConfig) -> WarroomConfig:
    return config.model_copy(update={"authority": authority})


def test_rules_are_configurable(config: WarroomConfig) -> None:
    bob, tl = ACTORS["no role"], ACTORS["TL"]
    every_level = _with(
        config, AuthorityConfig(actions={"change_severity": ActionRule(severities="all")})
    )
    refused = decide(
        every_level, action=Action.CHANGE_SEVERITY, severity="SEV4", holders=HOLDERS, actor=bob
    )
    assert not refused.allowed and refused.may == ("jane.smith",)
    listed = _with(
        config,
        AuthorityConfig(
            actions={
                "resolve": ActionRule(
                    roles=["incident_commander", "technical_lead"], severities=["SEV1"]
                )
            }
        ),
    )
    assert decide(listed, action=Action.RESOLVE, severity="SEV1", holders=HOLDERS, actor=tl).allowed
    assert decide(
        listed, action=Action.RESOLVE, severity="SEV2", holders=HOLDERS, actor=bob
    ).allowed
    off = _with(config, AuthorityConfig(enforce=False))
    assert decide(off, action=Action.RESOLVE, severity="SEV1", holders=HOLDERS, actor=bob).allowed


def test_a_renamed_scheme_follows_by_required_roles() -> None:
    config = load_config(ROOT / "examples" / "alternate-schemes" / "p0-p3.yaml")
    top = config.severities[0]
    assert "incident_commander" in top.required_roles
    decision = decide(
        config,
        action=Action.CHANGE_SEVERITY,
        severity=top.name,
        holders=HOLDERS,
        actor=ACTORS["no role"],
    )
    assert not decision.allowed and top.name in decision.message


def test_staffing_times_come_from_the_response_time(config: WarroomConfig) -> None:
    assert staffing_time(config, "SEV1") == timedelta(minutes=5)  # "Immediate"
    assert staffing_time(config, "SEV2") == timedelta(minutes=15)
    assert staffing_time(config, "SEV3") == timedelta(hours=1)
    assert staffing_time(config, "SEV4") == timedelta(days=1)  # "Next business day"
    custom = config.model_copy(
        update={"authority": AuthorityConfig(staffing={"within": {"SEV1": "2 minutes"}})}
    )
    assert staffing_time(custom, "SEV1") == timedelta(minutes=2)
    assert missing_roles(config, "SEV1", HOLDERS) == ["scribe"]
    assert missing_roles(config, "SEV4", {}) == []


def test_configuration_problems_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "authority.yaml").write_text(
        "authority:\n"
        "  actions:\n"
        "    resolve:\n"
        "      roles: [janitor]\n"
        "      severities: [SEV9]\n"
        "  ic_rotation:\n"
        "    participants: [ghost]\n"
        "  staffing:\n"
        "    within: {SEV7: 5 minutes}\n"
    )
    messages = {f"{p.field}: {p.message}" for p in validate_path(tmp_path)}
    assert any(
        "authority.actions.resolve.roles.0: unknown role 'janitor'" in m for m in messages
    ), messages
    assert "authority.actions.resolve.severities.0: unknown severity 'SEV9'" in messages
    assert "authority.staffing.within: unknown severity 'SEV7'" in messages


def test_the_cli_panel_shows_the_roles_still_empty() -> None:
    from rich.console import Console

    from warroom.cli.incidents import incident_panel

    incident = {"id": "INC-7", "title": "Slow", "severity": "SEV2", "status": "investigating",
                "roles": {"incident_commander": "jane.smith"}}  # fmt: skip
    console = Console(width=120, record=True)
    console.print(incident_panel(incident))
    assert "Still empty" not in console.export_text()
    console.print(incident_panel({**incident, "unfilled_roles": ["technical_lead", "scribe"]}))
    assert "Still empty  technical_lead, scribe" in console.export_text()
