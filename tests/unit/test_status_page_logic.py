"""Status page rules: uptime rollups, the page indicator, Statuspage's document shapes,
and which snapshot file a public URL reads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from warroom.config.incidents import ComponentStatus
from warroom.statuspage.documents import (
    ComponentFacts,
    IncidentFacts,
    MaintenanceFacts,
    PageFacts,
    UpdateFacts,
    all_documents,
)
from warroom.statuspage.logic import (
    Impact,
    MaintenanceStatus,
    daily_rollups,
    impact_of,
    intervals,
    page_indicator,
    uptime_percent,
)
from warroom.statuspage.serve import url_to_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statuspage"
T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def test_rollups_split_an_outage_across_midnight() -> None:
    changes = [
        (T0 - timedelta(days=10), ComponentStatus.OPERATIONAL),
        (datetime(2024, 3, 13, 23, 0, tzinfo=UTC), ComponentStatus.MAJOR_OUTAGE),
        (datetime(2024, 3, 14, 0, 30, tzinfo=UTC), ComponentStatus.PARTIAL_OUTAGE),
        (datetime(2024, 3, 14, 1, 0, tzinfo=UTC), ComponentStatus.OPERATIONAL),
    ]
    rollups = daily_rollups(intervals(changes, T0), today=T0.date(), days=90)
    assert len(rollups) == 90 and rollups[-1].day == T0.date()
    by_day = {r.day: r for r in rollups}
    assert by_day[date(2024, 3, 13)].major == pytest.approx(60)
    assert by_day[date(2024, 3, 14)].major == pytest.approx(30)
    assert by_day[date(2024, 3, 14)].partial == pytest.approx(30)
    assert by_day[date(2024, 3, 14)].worst is ComponentStatus.MAJOR_OUTAGE
    assert by_day[date(2024, 3, 12)].worst is ComponentStatus.OPERATIONAL
    assert by_day[date(2024, 3, 12)].observed and not by_day[date(2024, 3, 4)].observed
    observed = 10 * 24 * 60
    # 90 minutes of major outage, 30 of partial (at 30 %).
    assert uptime_percent(rollups, observed) == pytest.approx(100 * (1 - 99 / observed))


def test_indicator_is_the_worst_of_components_and_incidents() -> None:
    assert page_indicator([ComponentStatus.OPERATIONAL], []).description == (
        "All Systems Operational"
    )
    assert page_indicator([ComponentStatus.DEGRADED_PERFORMANCE], []).indicator is Impact.MINOR
    mixed = page_indicator([ComponentStatus.PARTIAL_OUTAGE], [Impact.CRITICAL])
    assert (mixed.indicator, mixed.description) == (Impact.CRITICAL, "Major System Outage")
    maintenance = page_indicator([ComponentStatus.UNDER_MAINTENANCE], [], True)
    assert maintenance.description == "Service Under Maintenance"
    assert impact_of([]) is Impact.NONE


@pytest.mark.parametrize(
    ("path", "file"),
    [
        ("/status", "index.html"),
        ("/status/", "index.html"),
        ("/status/history", "history.html"),
        ("/status/incidents/abc123", "incidents/abc123.html"),
        ("/status/api/v2/summary.json", "api/v2/summary.json"),
        ("/status/api/v2/incidents/unresolved.json", "api/v2/incidents/unresolved.json"),
        ("/status/history.atom", "history.atom"),
        ("/status/../etc/passwd", None),
        ("/status/index.html.gz", None),
        ("/status/.VERSION", None),
        ("/statusx", None),
        ("/api/v1/incidents", None),
    ],
)
def test_public_urls_map_to_snapshot_files(path: str, file: str | None) -> None:
    assert url_to_file(path) == file


def _page() -> PageFacts:
    api = ComponentFacts(
        id=1,
        name="API",
        description="The REST API",
        group="Platform",
        position=1,
        status=ComponentStatus.PARTIAL_OUTAGE,
        created_at=T0 - timedelta(days=30),
        updated_at=T0,
    )
    web = ComponentFacts(
        id=2,
        name="Website",
        description="",
        group=None,
        position=2,
        status=ComponentStatus.OPERATIONAL,
        created_at=T0 - timedelta(days=30),
        updated_at=T0,
    )
    incident = IncidentFacts(
        id=7,
        name="Elevated API error rates",
        status="identified",
        impact="major",
        created_at=T0 - timedelta(minutes=10),
        updated_at=T0,
        resolved_at=None,
        components=["API"],
        updates=[
            UpdateFacts(
                id=3,
                status="identified",
                body="Fix under way.",
                created_at=T0,
                components={
                    "API": {"old_status": "degraded_performance", "new_status": "partial_outage"}
                },
            )
        ],
    )
    maintenance = MaintenanceFacts(
        id=4,
        name="Database upgrade",
        body="The API may be slow.",
        status=MaintenanceStatus.SCHEDULED,
        scheduled_for=T0 + timedelta(days=2),
        scheduled_until=T0 + timedelta(days=2, hours=2),
        created_at=T0,
        updated_at=T0,
        components=["API"],
    )
    return PageFacts(
        name="Acme",
        url="https://status.acme.example",
        time_zone="Etc/UTC",
        updated_at=T0,
        today=T0.date(),
        components=[api, web],
        incidents=[incident],
        maintenances=[maintenance],
    )


def _same_shape(reference: Any, ours: Any, where: str) -> None:
    """Every field of the recorded document exists in ours with a compatible JSON type."""
    if isinstance(reference, dict):
        assert isinstance(ours, dict), where
        missing = set(reference) - set(ours)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, value in reference.items():
            if value is not None and ours[key] is not None:
                _same_shape(value, ours[key], f"{where}.{key}")
    elif isinstance(reference, list):
        assert isinstance(ours, list), where
        if reference and ours:
            _same_shape(reference[0], ours[0], f"{where}[0]")
    else:
        assert type(reference) is type(ours), f"{where}: {type(ours).__name__}"


def test_documents_have_statuspage_shapes() -> None:
    recorded = json.loads((FIXTURES / "summary.json").read_text())
    docs = all_documents(_page())
    summary = docs["summary.json"]
    _same_shape(recorded, summary, "summary")
    # Statuspage lists a group first, as a component with its members' ids.
    group, api, web = summary["components"]
    assert group["group"] is True and group["components"] == [api["id"]]
    assert api["group_id"] == group["id"] and web["group_id"] is None
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    [update] = summary["incidents"][0]["incident_updates"]
    assert update["affected_components"][0]["code"] == api["id"]
    for name in ("status.json", "components.json", "incidents.json", "incidents/unresolved.json"):
        assert docs[name]["page"] == recorded_page_shape(summary)
    _same_shape({"page": recorded["page"], "status": recorded["status"]}, docs["status.json"], "s")
    upcoming = docs["scheduled-maintenances/upcoming.json"]["scheduled_maintenances"]
    _same_shape(recorded["scheduled_maintenances"][0], upcoming[0], "maintenance")
    assert docs["scheduled-maintenances/active.json"]["scheduled_maintenances"] == []
    assert summary["page"]["updated_at"] == "2024-03-15T09:30:00.000Z"


def recorded_page_shape(summary: dict[str, Any]) -> dict[str, Any]:
    page: dict[str, Any] = summary["page"]
    return page


def test_a_mirror_names_only_components_of_the_page() -> None:
    from pydantic import ValidationError

    from warroom.config.statuspage import StatusPageConfig

    with pytest.raises(ValidationError, match=r"statuspage_io.components.Moon"):
        StatusPageConfig.model_validate(
            {
                "components": [{"name": "API"}],
                "statuspage_io": {"page_id": "abc123", "components": {"Moon": "x1"}},
            }
        )
    with pytest.raises(ValidationError, match="listed twice"):
        StatusPageConfig.model_validate({"components": [{"name": "API"}, {"name": "API"}]})
