"""The PostgreSQL batch statement reads `service.key_rows` dicts as they are: a column it
declares that the dicts lack would be NULL without a word, so the two must name the same
columns."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

from tests.integration.batch_twins import random_event
from warroom.alerts.pg_ingest import _BATCH
from warroom.alerts.service import Source, key_rows, new_alert, plan_batch


def _declared() -> list[str]:
    found = re.search(r"json_to_recordset\(%\(rows\)s::json\) AS \((.*?)\)\)", _BATCH, re.S)
    assert found is not None
    return [column.split()[0] for column in found.group(1).split(",")]


def test_the_statement_reads_exactly_the_columns_of_key_rows() -> None:
    rnd = random.Random(5)
    events = [random_event(rnd, acks=False) for _ in range(20)]
    plan = plan_batch([(Source(1, "svc"), e) for e in events])
    rows = [row for _, row in key_rows(plan)]
    assert rows
    for row in rows:
        assert list(row) == _declared()


def test_new_alert_adds_what_no_event_says() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    row = {"dedup_key": "k", "occurrences": 2}
    assert new_alert(row, now) == {
        "dedup_key": "k",
        "occurrences": 2,
        "status": "triggered",
        "first_seen": now,
        "last_seen": now,
        "suppressed": False,
    }
