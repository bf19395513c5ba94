"""An alert whose service has no owning team to notify: the log says so once every ten
minutes per service, not once per alert (a storm would write a line per alert)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from warroom.alerts import actions
from warroom.alerts.models import Alert

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_said_once_per_service_every_ten_minutes(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "_unowned_noted", {})
    caplog.set_level(logging.INFO, logger=actions.log.name)
    notes = [
        (1, "billing", T0),
        (2, "billing", T0 + timedelta(minutes=1)),  # same service, within ten minutes
        (3, "search", T0 + timedelta(minutes=2)),  # another service: said
        (4, "billing", T0 + timedelta(minutes=10)),  # ten minutes on: said again
    ]
    for alert_id, service, now in notes:
        actions._note_unowned(Alert(id=alert_id, service=service), now)
    said = [r.getMessage() for r in caplog.records if "no owning team" in r.getMessage()]
    assert [m.split(":")[0] for m in said] == ["alert 1", "alert 3", "alert 4"]
    assert "service billing" in said[0] and "service search" in said[1]
