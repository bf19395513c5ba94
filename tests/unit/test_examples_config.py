"""The example configuration that `make run` starts with loads, and says what the seeds say."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from warroom.config import WarroomConfig
from warroom.configuration import load_config, validate_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALTERNATE_SCHEMES = EXAMPLES / "alternate-schemes"


@pytest.fixture(scope="module")
def config() -> WarroomConfig:
    return load_config(EXAMPLES)


def test_examples_validate_cleanly() -> None:
    assert validate_path(EXAMPLES) == []


def test_examples_use_the_default_scheme_with_seed_002_clocks(config: WarroomConfig) -> None:
    hour, day = timedelta(hours=1), timedelta(days=1)
    assert [
        (s.name, s.sla.acknowledge, s.sla.mitigate, s.sla.resolve) for s in config.severities
    ] == [
        ("SEV1", timedelta(minutes=15), hour, 4 * hour),
        ("SEV2", hour, 4 * hour, 24 * hour),
        ("SEV3", 4 * hour, 24 * hour, 7 * day),
        ("SEV4", 24 * hour, 7 * day, 30 * day),
    ]


def test_example_scheme_repeats_the_defaults_exactly(config: WarroomConfig) -> None:
    assert config.severities == load_config(None).severities


def test_examples_have_people_teams_and_services(config: WarroomConfig) -> None:
    handles = {u.handle for u in config.users}
    assert {"jane.smith", "bob.wilson", "mike.chen", "sarah.lee"} <= handles
    assert {"marcus.johnson", "sarah.chen", "alex.rivera"} <= handles
    vp = config.user("marcus.johnson")
    assert vp is not None and vp.title == "VP of Engineering" and vp.phone == "+1-555-0102"
    assert all(u.email and u.phone and u.slack for u in config.users)
    assert {"sre", "platform", "payments", "security"} <= {t.name for t in config.teams}
    owners = {s.name: s.owner for s in config.services}
    assert set(owners) == {
        "api-gateway",
        "payment-service",
        "auth-service",
        "search",
        "web-app",
        "database",
        "api-service",
    }
    assert all(owners.values())


def test_seed_role_blocks_are_the_role_definitions(config: WarroomConfig) -> None:
    ic, tl = config.roles["incident_commander"], config.roles["technical_lead"]
    assert (ic.title, ic.alias) == ("Incident Commander", "IC")
    assert len(ic.responsibilities) == 8
    assert ic.escalation_triggers[0].action == "Notify Engineering Director"
    assert ic.rotation is not None
    assert (ic.rotation.schedule, ic.rotation.handoff_day, ic.rotation.handoff_time) == (
        "weekly",
        "Monday",
        "09:00 UTC",
    )
    assert (tl.title, tl.alias) == ("Technical Lead", "TL")
    assert tl.can_authorize == [
        "Rollback to previous deployment",
        "Scale infrastructure resources",
        "Enable feature flags",
    ]
    assert "Customer data access" in tl.requires_ic_approval
    # the roles the seeds describe only in prose come from the defaults
    assert {"communications_lead", "scribe", "sme", "operations_lead"} <= set(config.roles)


def test_seed_escalation_runbook_and_handoff_blocks(config: WarroomConfig) -> None:
    matrix = config.escalation_matrix
    assert matrix is not None
    assert set(matrix) == {"time_based", "impact_based", "on_call_chain", "contacts"}
    assert matrix["contacts"]["vp_engineering"]["name"] == "Marcus Johnson"
    assert [r["name"] for r in config.runbooks] == [
        "Standard Incident Response Procedure",
        "Security Incident Response",
    ]
    phases = config.runbooks[0]["phases"]
    assert list(phases) == [
        "detection",
        "declaration",
        "investigation",
        "remediation",
        "resolution",
        "post_incident",
    ]
    handoff = config.handoff_template
    assert handoff is not None
    assert handoff["incident_id"] == "INC-2024-0142"
    assert handoff["handoff_confirmed"]["handoff_complete"] is True


@pytest.mark.parametrize(
    ("name", "section"),
    [
        ("roles-incident-commander.yaml", "roles"),
        ("roles-technical-lead.yaml", "roles"),
        ("escalation-matrix.yaml", "escalation_matrix"),
        ("incident-response-runbook.yaml", "runbooks"),
        ("incident-handoff-template.yaml", "handoff_template"),
    ],
)
def test_each_seed_block_loads_alone(name: str, section: str) -> None:
    config = load_config(EXAMPLES / name)
    assert getattr(config, section)


@pytest.mark.parametrize(
    ("scheme", "names"),
    [("p0-p3.yaml", ["P0", "P1", "P2", "P3"]), ("p1-p4.yaml", ["P1", "P2", "P3", "P4"])],
)
def test_examples_with_an_alternate_scheme(tmp_path: Path, scheme: str, names: list[str]) -> None:
    for path in EXAMPLES.glob("*.yaml"):
        if path.name != "severities.yaml":
            shutil.copy(path, tmp_path / path.name)
    shutil.copy(ALTERNATE_SCHEMES / scheme, tmp_path / "severities.yaml")
    config = load_config(tmp_path)
    assert [s.name for s in config.severities] == names
    assert config.severity_rank(names[0]) == 1
    # the built-in triage follows the rename by rank
    routes = [config.triage.priorities[p].severity for p in sorted(config.triage.priorities)]
    assert sorted(routes) == names
    assert config.severities[0].sla.acknowledge == timedelta(minutes=15)


@pytest.mark.parametrize("scheme", ["p0-p3.yaml", "p1-p4.yaml"])
def test_an_alternate_scheme_loads_alone(scheme: str) -> None:
    assert len(load_config(ALTERNATE_SCHEMES / scheme).severities) == 4


def test_the_alternate_schemes_folder_is_not_loaded_with_the_examples(
    config: WarroomConfig,
) -> None:
    assert not any(s.name.startswith("P") for s in config.severities)


def test_the_security_runbook_follows_the_seeds(config: WarroomConfig) -> None:
    runbook = next(r for r in config.runbooks if r["name"] == "Security Incident Response")
    assert list(runbook["phases"]) == ["isolate", "preserve", "notify", "rotate", "patch", "review"]
    steps = [s for phase in runbook["phases"].values() for s in phase["steps"]]
    needing_approval = [s["step"] for s in steps if "approval" in s]
    assert any("Isolate compromised hosts" in s for s in needing_approval)
    assert any("Rotate credentials" in s for s in needing_approval)
    assert any("72 hours" in s["step"] for s in steps)


def test_the_example_regimes_gdpr_and_nis2(config: WarroomConfig) -> None:
    regimes = config.security.regimes
    assert [o.name for o in regimes["gdpr"].obligations] == ["authority", "data_subjects"]
    nis2 = {o.name: o for o in regimes["nis2"].obligations}
    assert nis2["early_warning"].within == timedelta(hours=24)
    assert nis2["notification"].within == timedelta(hours=72)
    assert nis2["final_report"].within_months == 1
    assert set(config.security.team) <= {u.handle for u in config.users}
