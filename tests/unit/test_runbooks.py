"""Runbook rules (pure): matching explained, SLAs from declaration, overdue, the YAML's errors."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from warroom.config.runbooks import Runbook, RunbookMatch, RunbookPhase, RunbookStep
from warroom.config.schema import WarroomConfig
from warroom.configuration import validate_path
from warroom.runbooks.logic import (
    IncidentFacts,
    current_phase,
    is_overdue,
    match,
    plan,
    time_left,
)

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def _book(name: str, rule: RunbookMatch | None = None, **phases: list[RunbookStep]) -> Runbook:
    return Runbook(
        name=name,
        match=rule,
        phases={k: RunbookPhase(steps=v) for k, v in phases.items()},
    )


def test_matching_needs_every_given_list_and_says_which_rule_matched() -> None:
    books = [
        _book("Everything"),
        _book("Db", RunbookMatch(services=["database"], severities=["SEV1", "SEV2"])),
        _book("Sec", RunbookMatch(types=["security_breach"])),
        _book("Named", RunbookMatch(types=["nothing_like_it"])),
    ]
    facts = IncidentFacts(type="service_outage", severity="SEV2", services=("api", "database"))
    found = match(books, facts, named={"Named": "incident type service_outage names it"})
    assert [(a.runbook.name, a.matched_by) for a in found] == [
        ("Everything", "no match rule: every incident"),
        ("Db", "match: severity SEV2 and service database"),
        ("Named", "incident type service_outage names it"),
    ]
    # One list failing is enough to leave a runbook out.
    sev3 = IncidentFacts(type=None, severity="SEV3", services=("database",))
    assert [a.runbook.name for a in match(books, sev3)] == ["Everything"]


def test_steps_come_in_lifecycle_order_with_the_level_sla_from_declaration() -> None:
    books = [
        _book(
            "A",
            resolution=[RunbookStep(step="Close it")],
            detection=[RunbookStep(step="Ack", sla={"sev1": "5 minutes", "sev3": "1 hour"})],
        ),
        _book("B", detection=[RunbookStep(step="Ack", sla="within 10 minutes")]),
    ]
    facts = IncidentFacts(type=None, severity="SEV1", services=())
    steps = plan(match(books, facts), severity="SEV1", declared_at=T0)
    assert [(s.phase, s.key, s.due_at) for s in steps] == [
        ("detection", "ack", T0 + timedelta(minutes=5)),
        ("detection", "ack-2", T0 + timedelta(minutes=10)),
        ("resolution", "close-it", None),
    ]
    sev2 = plan(match(books, facts), severity="SEV2", declared_at=T0)
    assert sev2[0].sla is None and sev2[0].due_at is None


def test_a_prose_sla_is_kept_but_sets_no_clock() -> None:
    step = RunbookStep(step="Track action items", sla="All P1 items completed within 2 weeks")
    assert step.sla_for("SEV1") is None
    steps = plan(match([_book("A", post_incident=[step])], IncidentFacts(None, "SEV1", ())),
                 severity="SEV1", declared_at=T0)  # fmt: skip
    assert steps[0].sla == "All P1 items completed within 2 weeks" and steps[0].due_at is None


def test_overdue_is_elapsed_time_even_across_a_dst_change() -> None:
    # Declared 01:30 Berlin time on the night clocks go forward (02:00 -> 03:00).
    berlin = ZoneInfo("Europe/Berlin")
    declared = datetime(2024, 3, 31, 1, 30, tzinfo=berlin)
    step = RunbookStep(step="Ack", sla={"SEV1": "1 hour"})
    (planned,) = plan(match([_book("A", detection=[step])], IncidentFacts(None, "SEV1", ())),
                      severity="SEV1", declared_at=declared)  # fmt: skip
    assert planned.due_at is not None
    # One real hour later the wall clock reads 03:30, not 02:30.
    assert planned.due_at.astimezone(berlin).hour == 3
    just_before = datetime(2024, 3, 31, 3, 29, tzinfo=berlin)
    assert not is_overdue(state="pending", due_at=planned.due_at, now=just_before)
    assert time_left(due_at=planned.due_at, now=just_before) == timedelta(minutes=1)
    at = datetime(2024, 3, 31, 3, 30, tzinfo=berlin)
    assert is_overdue(state="pending", due_at=planned.due_at, now=at)
    assert not is_overdue(state="done", due_at=planned.due_at, now=at)
    assert not is_overdue(state="skipped", due_at=planned.due_at, now=at + timedelta(days=1))
    assert not is_overdue(state="pending", due_at=None, now=at)


def test_the_current_phase_is_the_first_with_a_pending_step() -> None:
    assert current_phase([("resolution", "pending"), ("detection", "done")]) == "resolution"
    assert current_phase([("detection", "skipped"), ("investigation", "pending"),
                          ("containment", "pending")]) == "investigation"  # fmt: skip
    assert current_phase([("detection", "done")]) is None


def test_the_examples_ship_the_seed_runbooks(config: WarroomConfig) -> None:
    names = [r.name for r in config.runbooks]
    assert names[0] == "Standard Incident Response Procedure"
    assert {"Service Outage", "Database Connection Failure", "API Error Rate Spike",
            "Performance Degradation", "Security Incident Response", "Data Backup and Restore",
            "Deployment Issues"} <= set(names)  # fmt: skip
    step = config.runbooks[0].phases["detection"].steps[1]
    assert step.extras()["checklist"][0] == "Check error rates and latency"


def test_runbook_errors_name_file_line_and_field(tmp_path: Path, config: WarroomConfig) -> None:
    (tmp_path / "runbook.yaml").write_text(
        textwrap.dedent(
            """\
            runbook:
              name: Broken
              phases:
                detection:
                  steps:
                    - step: Ack
                      sla: {sev1: soon}
            """
        )
    )
    (found,) = validate_path(tmp_path)
    assert found.file.endswith("runbook.yaml") and found.line == 7
    assert found.field == "runbook.phases.detection.steps.0.sla" and "'soon'" in found.message
    (tmp_path / "runbook.yaml").write_text("runbook:\n  name: B\n  phases:\n    warmup: {}\n")
    (found,) = validate_path(tmp_path)
    assert found.line == 3 and found.field == "runbook.phases"
    assert "unknown phase 'warmup'" in found.message
