"""MTTA and MTTR over time (docs/reports.md): each metric's nearest-rank median per bucket,
computed in SQL, and the chart drawn from it — checked against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.test_reports_periods import auth, load, row
from tests.integration.test_web import login
from warroom.clock import FakeClock
from warroom.reports import render

D1, D3, D5 = "2024-04-01", "2024-04-03", "2024-04-05"


def at(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00Z"


# The week of Monday 1 April 2024, UTC. Seconds worked out by hand beside each incident.
INCIDENTS: list[dict[str, Any]] = [
    # 1 April. MTTA 240, 600, 120 -> sorted 120, 240, 600: rank ceil(3/2) = 2 -> 240.
    # MTTR (begin: started, else detected, else declared) 4200, 1800, none -> rank 1 -> 1800.
    row(1, at(D1, "10:00"), started_at=at(D1, "09:50"), acknowledged_at=at(D1, "10:04"),
        resolved_at=at(D1, "11:00")),
    row(2, at(D1, "12:00"), acknowledged_at=at(D1, "12:10"), resolved_at=at(D1, "12:30")),
    row(3, at(D1, "14:00"), acknowledged_at=at(D1, "14:02")),
    # 3 April. MTTA: neither was acknowledged: no value (not zero).
    # MTTR 3600 (from declared), 2700 (from detected 09:00) -> rank 1 -> 2700.
    row(4, at(D3, "09:00"), resolved_at=at(D3, "10:00")),
    row(5, at(D3, "09:30"), detected_at=at(D3, "09:00"), resolved_at=at(D3, "09:45")),
    # 5 April. MTTA 60, 180, 300, 600 -> rank 2 -> 180; MTTR 1800, 7200, 1200, 3600 -> 1800.
    row(6, at(D5, "10:00"), acknowledged_at=at(D5, "10:01"), resolved_at=at(D5, "10:30")),
    row(7, at(D5, "11:00"), acknowledged_at=at(D5, "11:03"), resolved_at=at(D5, "13:00")),
    row(8, at(D5, "12:00"), acknowledged_at=at(D5, "12:05"), resolved_at=at(D5, "12:20")),
    row(9, at(D5, "13:00"), acknowledged_at=at(D5, "13:10"), resolved_at=at(D5, "14:00")),
    # Monday 8 April: the next week, in no bucket of this one.
    row(10, "2024-04-08T00:00:00Z", acknowledged_at="2024-04-08T09:00:00Z"),
]  # fmt: skip

EXPECTED = {  # bucket: (MTTA median, measured, MTTR median, measured)
    "2024-04-01": (240.0, 3, 1800.0, 2),
    "2024-04-02": (None, 0, None, 0),
    "2024-04-03": (None, 0, 2700.0, 2),
    "2024-04-04": (None, 0, None, 0),
    "2024-04-05": (180.0, 4, 1800.0, 4),
    "2024-04-06": (None, 0, None, 0),
    "2024-04-07": (None, 0, None, 0),
}


def _weekly(client: TestClient, token: str, fmt: str = "json") -> Any:
    r = client.get("/api/v1/reports/weekly", params={"on": D3, "tz": "UTC", "format": fmt},
                   headers=auth(token))  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json() if fmt == "json" else r.content


def test_the_medians_per_day_are_the_hand_computed_ones(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    load(client, api_tokens.admin, INCIDENTS)
    data = _weekly(client, api_tokens.viewer)
    got = {
        b["bucket"]: (b["mtta_median"], b["mtta_measured"], b["mttr_median"], b["mttr_measured"])
        for b in data["mttx_over_time"]
    }
    assert got == EXPECTED
    # The chart's points: the middle of each day's slot, scaled to the largest median.
    mttr = render.line_chart(render.mttx_values(data, "mttr"), width=700, height=120)
    slot, top, usable = 100, 2700.0, 120 - 20
    assert [(p["label"], p["x"], p["y"]) for p in mttr["points"]] == [
        ("2024-04-01", 0 * slot + 50, round(120 - 15 - 1800 / top * usable, 1)),
        ("2024-04-03", 2 * slot + 50, 120 - 15 - usable),
        ("2024-04-05", 4 * slot + 50, round(120 - 15 - 1800 / top * usable, 1)),
    ]
    # A day without a value breaks the line: three runs of one point, never a zero.
    assert len(mttr["runs"]) == 3 and mttr["top"] == top
    mtta = render.line_chart(render.mttx_values(data, "mtta"), width=700, height=120)
    assert [(p["x"], p["value"]) for p in mtta["points"]] == [(50, 240.0), (450, 180.0)]
    assert mtta["points"][0]["y"] == 120 - 15 - usable  # 240 s is the top


def test_the_chart_is_in_every_format_and_escaped(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    load(client, api_tokens.admin, INCIDENTS)
    md = _weekly(client, api_tokens.viewer, "markdown").decode()
    assert "## MTTA and MTTR over time" in md
    assert "- 2024-04-01: MTTA 4.0 min (3), MTTR 30.0 min (2)" in md
    assert "- 2024-04-03: MTTA n/a (0), MTTR 45.0 min (2)" in md
    html = _weekly(client, api_tokens.viewer, "html").decode()
    assert 'aria-label="MTTR (median)"' in html and "<polyline" in html
    assert "<title>2024-04-05: 3.0 min</title>" in html  # the MTTA point of the 5th
    pdf = _weekly(client, api_tokens.viewer, "pdf")
    assert pdf.startswith(b"%PDF-") and b"MTTR over time" not in pdf  # text is compressed
    # Labels go through the autoescaping template.
    page = render.html({**_weekly(client, api_tokens.viewer),
                        "label": "<b>x</b>"})  # fmt: skip
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    # The /reports page draws the same two charts from the same figures.
    login(client, api_tokens.viewer)
    web = client.get("/reports", params={"period": "weekly", "on": D3})
    assert web.status_code == 200
    assert "MTTA (median) over time" in web.text and "MTTR (median) over time" in web.text
    assert web.text.count('class="chart-trend-point"') == 2 + 3  # MTTA 2 days, MTTR 3
    assert "<title>2024-04-03: 45.0 min</title>" in web.text
