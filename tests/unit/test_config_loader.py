"""The configuration loader: merge rules, seed blocks, and problems that name file, line, field."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

import warroom.config
import warroom.configuration
from warroom.config import ConfigError, ConfigProblem, WarroomConfig
from warroom.configuration import load_config, validate_path

A_USER = """\
users:
  - handle: jane.smith
    name: Jane Smith
"""

A_LEVEL = """\
  - name: {name}
    response_time: Immediate
    update_frequency: Every 15 minutes
    update_interval: 15 minutes
    sla: {{acknowledge: 15 minutes, mitigate: 1 hour, resolve: 4 hours}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[ConfigProblem]:
    found = validate_path(path)
    assert found, "expected the configuration to be refused"
    return found


def only_problem(path: Path) -> ConfigProblem:
    found = problems(path)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --- the public surface -------------------------------------------------------------------


def test_public_api() -> None:
    assert set(warroom.config.__all__) == {"ConfigError", "ConfigProblem", "WarroomConfig"}
    assert set(warroom.configuration.__all__) == {"DOMAIN_CHECKS", "load_config", "validate_path"}


def test_problem_renders_file_line_field_message() -> None:
    assert str(ConfigProblem("a.yaml", 3, "users.0.name", "required")) == (
        "a.yaml:3: users.0.name: required"
    )
    assert str(ConfigProblem("a.yaml", None, "", "no such file")) == "a.yaml: no such file"
    assert str(ConfigProblem("a.yaml", 7, "", "YAML syntax error")) == "a.yaml:7: YAML syntax error"


def test_config_error_lists_every_problem() -> None:
    error = ConfigError(
        [ConfigProblem("a.yaml", 1, "x", "bad"), ConfigProblem("b.yaml", 2, "y", "worse")]
    )
    assert len(error.problems) == 2
    assert str(error) == "a.yaml:1: x: bad\nb.yaml:2: y: worse"


def test_problem_is_frozen() -> None:
    problem = ConfigProblem("a.yaml", 1, "x", "bad")
    with pytest.raises(AttributeError):
        problem.line = 2  # type: ignore[misc]


# --- defaults -----------------------------------------------------------------------------


def test_defaults_load_without_a_path() -> None:
    config = load_config(None)
    assert isinstance(config, WarroomConfig)
    assert [s.name for s in config.severities] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert set(config.roles) == {
        "incident_commander",
        "technical_lead",
        "communications_lead",
        "scribe",
        "sme",
        "operations_lead",
    }
    assert [t.name for t in config.incident_types] == [
        "service_outage",
        "performance_degradation",
        "data_loss",
        "security_breach",
        "integration_failure",
        "data_privacy",
    ]
    assert validate_path(None) == []


# get_response_requirements of seed 000's classifier, level by level.
SEED_REQUIREMENTS = {
    "SEV1": (
        "Immediate",
        "Every 15 minutes",
        ["incident_commander", "technical_lead", "communications_lead", "scribe"],
        "Major outage banner",
        True,
        True,
    ),
    "SEV2": (
        "Within 15 minutes",
        "Every 30 minutes",
        ["incident_commander", "technical_lead", "communications_lead"],
        "Degraded performance notice",
        True,
        True,
    ),
    "SEV3": (
        "Within 1 hour",
        "Every 2 hours",
        ["technical_lead"],
        "Minor issue notice",
        False,
        False,
    ),
    "SEV4": ("Next business day", "Daily", [], "None required", False, False),
}


@pytest.mark.parametrize("name", list(SEED_REQUIREMENTS))
def test_default_levels_carry_seed_000_requirements(name: str) -> None:
    level = load_config().severity(name)
    assert level is not None
    assert (
        level.response_time,
        level.update_frequency,
        level.required_roles,
        level.status_page,
        level.leadership_notification,
        level.bridge_call,
    ) == SEED_REQUIREMENTS[name]


def test_default_levels_carry_seed_002_sla_clocks_and_cadence() -> None:
    config = load_config()
    hour, day = timedelta(hours=1), timedelta(days=1)
    clocks = {s.name: (s.sla.acknowledge, s.sla.mitigate, s.sla.resolve) for s in config.severities}
    assert clocks == {
        "SEV1": (timedelta(minutes=15), hour, 4 * hour),
        "SEV2": (hour, 4 * hour, 24 * hour),
        "SEV3": (4 * hour, 24 * hour, 7 * day),
        "SEV4": (24 * hour, 7 * day, 30 * day),
    }
    assert [s.update_interval for s in config.severities] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        2 * hour,
        day,
    ]
    assert [(s.postmortem_required, s.postmortem_due) for s in config.severities] == [
        (True, 48 * hour),
        (True, 7 * day),
        (False, None),
        (False, None),
    ]


def test_default_roles_and_restricted_types() -> None:
    config = load_config()
    assert config.roles["incident_commander"].short_name == "IC"
    assert config.roles["technical_lead"].short_name == "TL"
    assert config.roles["communications_lead"].short_name == "Comms Lead"
    assert config.roles["sme"].title == "Subject Matter Expert"
    assert config.roles["sme"].short_name == "SME"
    assert config.roles["incident_commander"].rotation is not None
    assert all(config.roles[key].responsibilities for key in config.roles)
    restricted = {t.name for t in config.incident_types if t.restricted}
    assert restricted == {"security_breach", "data_privacy"}


# --- where configuration comes from -------------------------------------------------------


def test_a_single_file_is_loaded_over_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "warroom.yaml", A_USER))
    assert [u.handle for u in config.users] == ["jane.smith"]
    assert config.severities[0].name == "SEV1"


def test_a_folder_loads_its_yaml_files_but_not_subfolders_or_other_files(tmp_path: Path) -> None:
    write(tmp_path, "users.yml", A_USER)
    write(tmp_path, "notes.txt", "this: is not configuration\n")
    (tmp_path / "archive").mkdir()
    write(tmp_path / "archive", "broken.yaml", "nonsense: [\n")
    config = load_config(tmp_path)
    assert [u.handle for u in config.users] == ["jane.smith"]


def test_a_string_path_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "users.yaml", A_USER)
    assert load_config(str(tmp_path)).users[0].name == "Jane Smith"


def test_an_empty_file_adds_nothing(tmp_path: Path) -> None:
    write(tmp_path, "empty.yaml", "# nothing here yet\n")
    assert load_config(tmp_path).users == []


def test_a_missing_path_is_a_problem(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "nowhere")
    assert problem.file == str(tmp_path / "nowhere")
    assert problem.line is None
    assert "no such file" in problem.message


def test_a_folder_without_yaml_is_a_problem(tmp_path: Path) -> None:
    assert "no .yaml" in only_problem(tmp_path).message


def test_load_config_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "a.yaml", "sevirities: []\n"))
    assert [p.field for p in caught.value.problems] == ["sevirities"]


# --- merge rules --------------------------------------------------------------------------


def test_a_user_section_replaces_the_default_wholesale(tmp_path: Path) -> None:
    write(
        tmp_path,
        "types.yaml",
        """\
        incident_types:
          - name: outage
            title: Outage
        """,
    )
    assert [t.name for t in load_config(tmp_path).incident_types] == ["outage"]


def test_roles_merge_per_role_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        "roles.yaml",
        """\
        roles:
          incident_commander:
            title: Incident Manager
            alias: IM
          safety_officer:
            title: Safety Officer
        """,
    )
    roles = load_config(tmp_path).roles
    assert roles["incident_commander"].short_name == "IM"
    assert roles["incident_commander"].responsibilities == []  # replaced, not merged field by field
    assert roles["technical_lead"].short_name == "TL"  # still the default
    assert roles["safety_officer"].title == "Safety Officer"


def test_list_sections_concatenate_across_files(tmp_path: Path) -> None:
    write(tmp_path, "users-a.yaml", A_USER)
    write(
        tmp_path,
        "users-b.yaml",
        """\
        users:
          - handle: bob.wilson
            name: Bob Wilson
          - handle: mike.chen
            name: Mike Chen
        """,
    )
    config = load_config(tmp_path)
    assert [u.handle for u in config.users] == ["jane.smith", "bob.wilson", "mike.chen"]


def test_files_are_read_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "users:\n  - {handle: b, name: B}\n")
    write(tmp_path, "a.yml", "users:\n  - {handle: a, name: A}\n")
    write(tmp_path, "c.yaml", "users:\n  - {handle: c, name: C}\n")
    assert [u.handle for u in load_config(tmp_path).users] == ["a", "b", "c"]


def test_a_problem_in_a_later_file_of_a_list_points_at_that_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", A_USER)
    b = write(
        tmp_path,
        "b.yaml",
        """\
        users:
          - handle: bob.wilson
            name: Bob Wilson
          - handle: jane.smith
            name: Jane again
        """,
    )
    problem = only_problem(tmp_path)
    assert (problem.file, problem.line, problem.field) == (str(b), 4, "users.1")
    assert "duplicate" in problem.message


def test_the_same_mapping_section_in_two_files_names_both(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "classifier:\n  sev1_revenue_per_hour: 5000\n")
    b = write(tmp_path, "b.yaml", "# second\nclassifier:\n  sev1_revenue_per_hour: 6000\n")
    problem = only_problem(tmp_path)
    assert (problem.file, problem.line, problem.field) == (str(b), 2, "classifier")
    assert f"{a}:1" in problem.message


def test_the_same_role_in_two_files_names_both(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "incident_commander:\n  title: IC one\n")
    b = write(tmp_path, "b.yaml", "roles:\n  incident_commander:\n    title: IC two\n")
    problem = only_problem(tmp_path)
    assert (problem.file, problem.line, problem.field) == (str(b), 2, "roles.incident_commander")
    assert str(a) in problem.message


def test_a_renamed_scheme_carries_the_default_triage_along_by_rank(tmp_path: Path) -> None:
    levels = "".join(A_LEVEL.format(name=name) for name in ("P0", "P1", "P2", "P3"))
    write(tmp_path, "severities.yaml", "severities:\n" + levels)
    config = load_config(tmp_path)
    assert [s.name for s in config.severities] == ["P0", "P1", "P2", "P3"]
    routes = {str(k): v.severity for k, v in config.triage.priorities.items()}
    assert routes == {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}


def test_a_renamed_scheme_does_not_rewrite_the_users_own_references(tmp_path: Path) -> None:
    levels = "".join(A_LEVEL.format(name=name) for name in ("P0", "P1"))
    write(tmp_path, "severities.yaml", "severities:\n" + levels)
    types = write(
        tmp_path,
        "types.yaml",
        """\
        incident_types:
          - name: outage
            title: Outage
            default_severity: SEV1
        """,
    )
    problem = only_problem(tmp_path)
    assert (problem.file, problem.line) == (str(types), 4)
    assert problem.field == "incident_types.0.default_severity"


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    write(
        tmp_path,
        "users.yaml",
        """\
        users:
          - &jane
            handle: jane.smith
            name: Jane Smith
            timezone: Europe/London
          - <<: *jane
            handle: bob.wilson
            name: Bob Wilson
        """,
    )
    users = load_config(tmp_path).users
    assert [(u.handle, u.timezone) for u in users] == [
        ("jane.smith", "Europe/London"),
        ("bob.wilson", "Europe/London"),
    ]


# --- the seeds' blocks, as they stand -----------------------------------------------------

SEED_IC = """\
# incident-commander-config.yaml
incident_commander:
  title: "Incident Commander"
  alias: "IC"
  responsibilities:
    - "Open incident channel and invite relevant teams"
  escalation_triggers:
    - condition: "Incident duration exceeds 60 minutes"
      action: "Notify Engineering Director"
  rotation:
    schedule: "weekly"
    handoff_day: "Monday"
    handoff_time: "09:00 UTC"
    backup_required: true
"""

SEED_MATRIX = """\
escalation_matrix:
  time_based:
    - trigger: "30 minutes without resolution"
      severity: ["SEV1"]
      escalate_to: "Engineering Manager on-call"
      method: "phone"
"""

SEED_RUNBOOK = """\
runbook:
  name: "{name}"
  version: "2.0"
  phases:
    detection:
      description: "Incident is detected through monitoring or user report"
"""

SEED_HANDOFF = """\
handoff_document:
  incident_id: "INC-2024-0142"
  participants:
    outgoing_ic: "Jane Smith"
    incoming_ic: "Bob Wilson"
"""


def test_seed_blocks_land_in_their_sections(tmp_path: Path) -> None:
    write(tmp_path, "ic.yaml", SEED_IC)
    write(tmp_path, "matrix.yaml", SEED_MATRIX)
    write(tmp_path, "runbook-a.yaml", SEED_RUNBOOK.format(name="Standard"))
    write(tmp_path, "runbook-b.yaml", SEED_RUNBOOK.format(name="Security"))
    write(tmp_path, "handoff.yaml", SEED_HANDOFF)
    config = load_config(tmp_path)
    ic = config.roles["incident_commander"]
    assert ic.alias == "IC"
    assert ic.rotation is not None and ic.rotation.handoff_day == "Monday"
    assert ic.escalation_triggers[0].action == "Notify Engineering Director"
    assert config.roles["technical_lead"].alias == "TL"  # the default beside it
    assert config.escalation_matrix is not None
    assert config.escalation_matrix["time_based"][0]["method"] == "phone"
    assert [r.name for r in config.runbooks] == ["Standard", "Security"]
    assert config.handoff_template is not None
    assert config.handoff_template["participants"]["incoming_ic"] == "Bob Wilson"


def test_runbook_blocks_and_runbooks_lists_concatenate(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SEED_RUNBOOK.format(name="Standard"))
    write(tmp_path, "b.yaml", "runbooks:\n  - name: Database\n  - name: Security\n")
    assert [r.name for r in load_config(tmp_path).runbooks] == [
        "Standard",
        "Database",
        "Security",
    ]


def test_handoff_document_and_handoff_template_are_one_section(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SEED_HANDOFF)
    b = write(tmp_path, "b.yaml", "handoff_template:\n  incident_id: X\n")
    problem = only_problem(tmp_path)
    assert (problem.file, problem.line, problem.field) == (str(b), 1, "handoff_template")


def test_a_problem_in_a_seed_role_block_uses_the_files_own_path(tmp_path: Path) -> None:
    path = write(
        tmp_path, "ic.yaml", SEED_IC.replace('    handoff_day: "Monday"', "    handoff: Monday")
    )
    problem = only_problem(path)
    assert (problem.line, problem.field) == (12, "incident_commander.rotation.handoff")
    assert "did you mean 'handoff_day'" in problem.message


# --- problems: each with its file, line and field -----------------------------------------


def test_yaml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "users.yaml",
        """\
        users:
          - handle: jane.smith
            name: [Jane Smith
          - handle: bob.wilson
        """,
    )
    problem = only_problem(path)
    assert problem.file == str(path)
    assert problem.line == 4
    assert problem.message.startswith("YAML syntax error")


def test_bad_indentation_is_a_syntax_error_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "users:\n  - handle: a\n    name: A\n   bad: indent\n")
    problem = only_problem(path)
    assert problem.line == 4
    assert "YAML syntax error" in problem.message


def test_a_syntax_error_holds_back_references_but_not_the_other_files_fields(
    tmp_path: Path,
) -> None:
    # teams.yaml refers to users that broken.yaml would have defined: that is not told,
    # but services.yaml's bad field is, with a note that references wait.
    write(tmp_path, "broken.yaml", "users: [\n")
    write(tmp_path, "teams.yaml", "teams:\n  - name: sre\n    members: [jane.smith]\n")
    services = "services:\n  - name: api\n    owner: nobody\n    titel: API\n"
    write(tmp_path, "services.yaml", services)
    found = problems(tmp_path)
    assert [(p.file, p.field) for p in found] == [
        (str(tmp_path), ""),
        (str(tmp_path / "broken.yaml"), ""),
        (str(tmp_path / "services.yaml"), "services.0.titel"),
    ]
    assert "checked once every file parses" in found[0].message
    assert not any("unknown user" in p.message or "unknown team" in p.message for p in found)


def test_several_documents_in_one_file_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "users: []\n---\nteams: []\n")
    problem = only_problem(path)
    assert problem.line == 2
    assert "single document" in problem.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "- just\n- a list\n")
    problem = only_problem(path)
    assert (problem.line, problem.message) == (1, "the top level must be a mapping of sections")


def test_duplicate_key_gives_line_and_first_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "users.yaml",
        """\
        users:
          - handle: jane.smith
            name: Jane Smith
            email: jane@example.com
            name: Jane S.
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.field) == (5, "users.0.name")
    assert problem.message == "duplicate key 'name' (first given on line 3)"


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", A_USER + "users: []\n")
    problem = only_problem(path)
    assert (problem.line, problem.field) == (4, "users")


def test_unknown_top_level_key_is_caught_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", A_USER + "\nservics:\n  - name: api\n")
    problem = only_problem(path)
    assert (problem.line, problem.field) == (5, "servics")
    assert problem.message == "unknown section 'servics'; did you mean 'services'?"


def test_unknown_top_level_key_without_a_close_match_lists_sections(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "a.yaml", "zzz: 1\n"))
    assert "known sections:" in problem.message
    assert "escalation_matrix" in problem.message


def test_unknown_field_in_a_role(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "roles.yaml",
        """\
        roles:
          scribe:
            title: Scribe
            responsibilites:
              - Document the timeline
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.field) == (4, "roles.scribe.responsibilites")
    assert problem.message == "unknown field 'responsibilites'; did you mean 'responsibilities'?"


def test_unknown_field_without_a_close_match_lists_the_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "users:\n  - handle: a\n    name: A\n    pager: 12\n")
    problem = only_problem(path)
    assert (problem.line, problem.field) == (4, "users.0.pager")
    assert "allowed: handle, name, email" in problem.message


def test_bad_duration_names_the_field(tmp_path: Path) -> None:
    text = "severities:\n" + A_LEVEL.format(name="SEV1").replace(
        "update_interval: 15 minutes", "update_interval: 15 parsecs"
    )
    path = write(tmp_path, "severities.yaml", text)
    problem = only_problem(path)
    assert (problem.line, problem.field) == (5, "severities.0.update_interval")
    assert problem.message == "unknown unit 'parsecs' in duration '15 parsecs'"


def test_bad_duration_in_a_nested_flow_mapping(tmp_path: Path) -> None:
    text = "severities:\n" + A_LEVEL.format(name="SEV1").replace(
        "resolve: 4 hours", "resolve: soon"
    )
    problem = only_problem(write(tmp_path, "severities.yaml", text))
    assert (problem.line, problem.field) == (6, "severities.0.sla.resolve")
    assert "not a duration: 'soon'" in problem.message


def test_a_wrong_type_gives_the_line_of_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "services:\n  - name: api\n    tier: top\n")
    problem = only_problem(path)
    assert (problem.line, problem.field) == (3, "services.0.tier")
    assert "integer" in problem.message


def test_a_bad_enum_value(tmp_path: Path) -> None:
    text = "severities:\n" + A_LEVEL.format(name="SEV1") + "    component_status: broken\n"
    problem = only_problem(write(tmp_path, "severities.yaml", text))
    assert (problem.line, problem.field) == (7, "severities.0.component_status")
    assert "major_outage" in problem.message


def test_a_missing_field_points_at_its_parent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "users.yaml",
        """\
        users:
          - handle: jane.smith
            name: Jane Smith
          - handle: bob.wilson
            email: bob@example.com
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.field) == (4, "users.1.name")
    assert problem.message == "required field is missing"


def test_a_bad_handle_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "users:\n  - handle: 'Jane Smith'\n    name: Jane\n")
    problem = only_problem(path)
    assert (problem.line, problem.field) == (2, "users.0.handle")


def test_unknown_user_in_a_team_points_at_the_member(tmp_path: Path) -> None:
    write(tmp_path, "users.yaml", A_USER)
    teams = write(
        tmp_path,
        "teams.yaml",
        """\
        teams:
          - name: sre
            members:
              - jane.smith
              - ghost
        """,
    )
    problem = only_problem(tmp_path)
    assert (problem.file, problem.line, problem.field) == (str(teams), 5, "teams.0.members.1")
    assert problem.message == "unknown user 'ghost'"


def test_unknown_references_are_each_reported(tmp_path: Path) -> None:
    write(tmp_path, "users.yaml", A_USER)
    write(tmp_path, "teams.yaml", "teams:\n  - name: sre\n    members: [jane.smith, ghost]\n")
    services = write(
        tmp_path,
        "services.yaml",
        """\
        services:
          - name: api
            owner: sre
          - name: web
            owner: frontend
        """,
    )
    levels = "severities:\n" + A_LEVEL.format(name="SEV1") + "    required_roles: [pilot]\n"
    severities = write(tmp_path, "severities.yaml", levels)
    found = {(p.file, p.line, p.field, p.message) for p in problems(tmp_path)}
    assert found == {
        (str(tmp_path / "teams.yaml"), 3, "teams.0.members.1", "unknown user 'ghost'"),
        (str(services), 5, "services.1.owner", "unknown team 'frontend'"),
        (str(severities), 7, "severities.0.required_roles.0", "unknown role 'pilot'"),
    }


def test_unknown_severity_in_the_users_own_triage(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "triage.yaml",
        """\
        triage:
          impact_types: {service_outage: critical}
          urgency: {immediate: 1}
          affected_users: []
          priorities:
            critical: {severity: SEV9, teams: [sre]}
        """,
    )
    problem = only_problem(path)
    assert (problem.line, problem.field) == (6, "triage.priorities.critical.severity")
    assert problem.message == "unknown severity 'SEV9'"


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    a = write(
        tmp_path,
        "a.yaml",
        """\
        users:
          - handle: jane.smith
            nam: Jane
        incident_comander:
          title: IC
        """,
    )
    b = write(
        tmp_path,
        "b.yaml",
        """\
        services:
          - name: api
            tier: 9
        roles:
          scribe:
            title: Scribe
            alias: [not, a, string]
        """,
    )
    found = [(p.file, p.line, p.field) for p in problems(tmp_path)]
    assert found == [
        (str(a), 2, "users.0.name"),
        (str(a), 3, "users.0.nam"),
        (str(a), 4, "incident_comander"),
        (str(b), 3, "services.0.tier"),
        (str(b), 7, "roles.scribe.alias"),
    ]


def test_problems_in_several_files_are_sorted_by_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "zzz: 1\nyyy: 2\n")
    write(tmp_path, "a.yaml", "xxx: 1\n")
    found = [(Path(p.file).name, p.line) for p in problems(tmp_path)]
    assert found == [("a.yaml", 1), ("b.yaml", 1), ("b.yaml", 2)]


def test_a_list_section_that_is_not_a_list(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "a.yaml", "users:\n  jane: {name: Jane}\n"))
    assert (problem.line, problem.field, problem.message) == (1, "users", "expected a list")


def test_roles_that_are_not_a_mapping(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "a.yaml", "roles: [incident_commander]\n"))
    assert (problem.line, problem.field) == (1, "roles")


# --- every problem at once (issue 9) ---------------------------------------------------


def test_every_time_zone_field_refuses_an_unknown_zone(tmp_path: Path) -> None:
    write(tmp_path, "users.yaml", A_USER + "    timezone: America/Nowhere\n")
    schedule = """\
    schedules:
      - name: s
        time_zone: Mars/Olympus
        layers: [{name: p, participants: [jane.smith]}]
    maintenance_windows:
      - service: api
        weekly: {days: [sunday], start: "02:00", duration: 2h, timezone: Europe/Nowhere}
    services:
      - name: api
    """
    write(tmp_path, "more.yaml", schedule)
    found = {(p.field, p.message.split(":")[0]) for p in problems(tmp_path)}
    assert found == {
        ("users.0.timezone", "unknown time zone 'America/Nowhere'"),
        ("schedules.0.time_zone", "unknown time zone 'Mars/Olympus'"),
        ("maintenance_windows.0.weekly.timezone", "unknown time zone 'Europe/Nowhere'"),
    }


def test_field_problems_and_reference_problems_are_reported_together(tmp_path: Path) -> None:
    users = """\
    users:
      - handle: ann
        name: Ann
        timezone: America/Nowhere
      - handle: bo
        name: Bo
        email: not-an-email
      - handle: Not A Handle!
        name: Broken
    teams:
      - name: ops
        members: [ann, ghost, bo]
    """
    write(tmp_path, "users.yaml", users)
    rest = """\
    services:
      - name: api
        owner: nobody
      - name: web
        owner: ops
        titel: Web
    schedules:
      - name: s
        time_zone: Mars/Olympus
        layers:
          - name: p
            participants: [ann, zed, "Not A Handle!"]
    """
    write(tmp_path, "services.yaml", rest)
    found = [(Path(p.file).name, p.line, p.field, p.message) for p in problems(tmp_path)]
    fields = {field: message for _, _, field, message in found}
    # The fields that failed...
    assert fields["users.0.timezone"].startswith("unknown time zone 'America/Nowhere'")
    assert fields["users.1.email"] == "'not-an-email' is not an email address"
    assert "users.2.handle" in fields
    assert fields["services.1.titel"].startswith("unknown field 'titel'")
    assert fields["schedules.0.time_zone"].startswith("unknown time zone 'Mars/Olympus'")
    # ...and, in the same run, what refers to nothing: ann and bo still count as users
    # without their bad values; the broken user's own references are not blamed twice.
    assert fields["teams.0.members.1"] == "unknown user 'ghost'"
    assert fields["services.0.owner"] == "unknown team 'nobody'"
    assert fields["schedules.0.layers.0.participants.1"] == "unknown user 'zed'"
    assert ("users.yaml", 12, "teams.0.members.1", "unknown user 'ghost'") in found
    assert not any("Not A Handle!" in message for message in fields.values())
    assert fields["schedules.0.layers.0.participants.2"].startswith("String should match")
    assert len(found) == 9


def test_a_list_whose_only_item_fails_is_not_also_called_empty(tmp_path: Path) -> None:
    levels = "severities:\n" + A_LEVEL.format(name="SEV1").replace(
        "update_interval: 15 minutes", "update_interval: 15 parsecs"
    )
    write(tmp_path, "severities.yaml", levels)
    found = problems(tmp_path)
    assert [p.field for p in found] == ["severities.0.update_interval"]


def test_users_and_services_are_found_by_name_in_a_copy_with_other_lists_too(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        """\
        users:
          - {handle: jane.smith, name: Jane Smith}
          - {handle: raj.patel, name: Raj Patel}
        services:
          - {name: checkout}
          - {name: payments}
        """,
    )
    config = load_config(path)
    assert config.user("raj.patel") is config.users[1]
    assert config.service("payments") is config.services[1]
    assert config.service("search") is None and config.user("nobody") is None
    # A copy with other lists answers from its own lists, and the original from its.
    other = config.model_copy(update={"services": [config.services[0]], "users": []})
    assert other.service("payments") is None and other.user("jane.smith") is None
    assert other.service("checkout") is config.services[0]
    assert config.service("payments") is config.services[1]
    assert config.user("jane.smith") is config.users[0]
