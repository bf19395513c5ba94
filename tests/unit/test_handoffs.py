"""The handoff document and role tenures (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from warroom.handoffs.history import RoleChange, tenures, totals
from warroom.handoffs.logic import Snapshot, draft, edit, sign

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def _snapshot() -> Snapshot:
    return Snapshot(
        key="INC-7",
        severity="SEV1",
        status="identified",
        summary="Connection leak",
        declared_at=T0,
        outgoing="jane",
        incoming="bob",
        roles={"incident_commander": "jane", "scribe": "sarah", "technical_lead": "mike"},
        events=[
            (T0, "declaration", "Declared SEV1"),
            (T0 + timedelta(minutes=5), "note", "coffee"),
            (T0 + timedelta(minutes=30), "decision", "Roll back payment-service"),
        ],
        pending=[("Verify error rates", "bob", T0 + timedelta(hours=5))],
        done=["Acknowledge alert"],
        approvals=["Customer data access (requested by mike)"],
    )


def test_the_draft_follows_the_seed_template_from_the_incident() -> None:
    doc = draft(_snapshot(), now=T0 + timedelta(hours=4, minutes=30))
    assert doc["participants"] == {
        "outgoing_ic": "jane",
        "incoming_ic": "bob",
        "witnesses": ["mike", "sarah"],
    }
    assert doc["current_status"] == {
        "severity": "SEV1",
        "duration": "4 hours 30 minutes",
        "state": "identified",
        "summary": "Connection leak",
    }
    # Notes are not highlights; decisions are, and are actions taken.
    assert [h["event"] for h in doc["timeline_highlights"]] == [
        "Declared SEV1",
        "Roll back payment-service",
    ]
    assert doc["actions_taken"] == ["Acknowledge alert", "Roll back payment-service"]
    assert doc["pending_actions"] == [
        {"action": "Verify error rates", "owner": "bob", "eta": "2024-03-15T14:30:00+00:00"}
    ]
    assert doc["environment_state"]["open_approvals"] == [
        "Customer data access (requested by mike)"
    ]
    assert doc["handoff_confirmed"]["handoff_complete"] is False


def test_editing_keeps_what_is_not_edited_and_signing_completes_it() -> None:
    doc = draft(_snapshot(), now=T0)
    edited = edit(doc, {"current_status": {"state": "rolling back"}, "witnesses": ["sarah"]})
    assert edited["current_status"]["state"] == "rolling back"
    assert edited["current_status"]["severity"] == "SEV1"
    assert edited["participants"]["witnesses"] == ["sarah"]
    assert edited["participants"]["incoming_ic"] == "bob"
    assert doc["current_status"]["state"] == "identified"  # the original is untouched
    signed = sign(edited, outgoing="jane", incoming="bob", at=T0 + timedelta(hours=1))
    assert signed["handoff_time"] == "2024-03-15T10:30:00+00:00"
    assert signed["handoff_confirmed"] == {
        "outgoing_signature": "jane",
        "incoming_signature": "bob",
        "handoff_complete": True,
    }


def test_tenures_end_at_handover_standing_down_or_resolution() -> None:
    ic = "incident_commander"
    changes = [
        RoleChange("INC-1", T0, ic, "jane", None),
        RoleChange("INC-1", T0 + timedelta(hours=1), ic, "bob", "jane"),
        RoleChange("INC-2", T0, "scribe", "jane", None),
        RoleChange("INC-3", T0, ic, "jane", None),
    ]
    now = T0 + timedelta(hours=3)
    found = tenures(
        changes, "jane", ended={"INC-2": T0 + timedelta(minutes=20), "INC-3": None}, now=now
    )
    assert [(t.incident, t.role, t.seconds, t.until) for t in found] == [
        ("INC-1", ic, 3600.0, T0 + timedelta(hours=1)),
        ("INC-2", "scribe", 1200.0, T0 + timedelta(minutes=20)),
        ("INC-3", ic, 10800.0, None),
    ]
    assert totals(found) == {ic: 14400.0, "scribe": 1200.0}


def test_stakeholder_status_and_environment_state_come_from_the_snapshot() -> None:
    due = T0 + timedelta(minutes=45)
    snapshot = replace(
        _snapshot(),
        events=[
            (T0, "declaration", "Declared SEV1"),
            (T0 + timedelta(minutes=10), "communication", "Execs told"),
            (T0 + timedelta(minutes=30), "communication", "Customers told"),
            (T0 + timedelta(minutes=40), "note", "coffee"),
        ],
        next_update_due=due,
        contact="sarah",
        windows=[
            ("payment-service", "Upgrade", T0 + timedelta(hours=1)),
            ("payment-service", "Failover drill", T0 + timedelta(hours=2)),
        ],
        silenced=[("PaymentLatency firing", "payment-service"), ("Disk full", "search")],
    )
    doc = draft(snapshot, now=T0 + timedelta(minutes=40))
    assert doc["stakeholder_status"] == {
        "last_update": "2024-03-15T10:00:00+00:00",
        "next_update": "2024-03-15T10:15:00+00:00",
        "update_overdue": False,
        "contact": "sarah",
    }
    # Silenced until the latest open window of its service ends; no window, no end.
    assert doc["environment_state"] == {
        "maintenance_windows": [
            {"service": "payment-service", "reason": "Upgrade",
             "until": "2024-03-15T10:30:00+00:00"},
            {"service": "payment-service", "reason": "Failover drill",
             "until": "2024-03-15T11:30:00+00:00"},
        ],
        "alerts_silenced": [
            "PaymentLatency firing (payment-service) until 2024-03-15T11:30:00+00:00",
            "Disk full (search)",
        ],
        "open_approvals": ["Customer data access (requested by mike)"],
    }  # fmt: skip
    # Due now (the cadence clock says so when overdue): overdue; none due, nothing overdue.
    assert draft(snapshot, now=due)["stakeholder_status"]["update_overdue"] is True
    quiet = draft(replace(snapshot, next_update_due=None, events=[]), now=due)
    assert quiet["stakeholder_status"] == {
        "last_update": None,
        "next_update": None,
        "update_overdue": False,
        "contact": "sarah",
    }
