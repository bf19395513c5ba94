"""Periodic reports through the API: JSON, Markdown, HTML with inline SVG, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def load(client: TestClient, token: str, rows: list[dict]) -> None:
    r = client.post("/api/v1/import/incidents", json={"incidents": rows}, headers=auth(token))
    assert r.status_code == 200, r.text


def row(n: int, declared: str, **extra: object) -> dict:
    return {
        "external_id": f"X-{n}",
        "title": f"Incident {n}",
        "severity": "SEV2",
        "services": ["payment-service"],
        "declared_at": declared,
        **extra,
    }


def test_a_dst_day_in_berlin_has_23_hourly_buckets_counted_in_sql(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    load(
        client,
        api_tokens.admin,
        [
            row(1, "2024-03-30T22:59:00Z"),  # 23:59 on the 30th in Berlin: outside
            row(2, "2024-03-30T23:00:00Z"),  # 00:00 on the 31st: the first bucket
            row(3, "2024-03-31T01:30:00Z"),  # 03:30 CEST (02:00-03:00 does not exist)
            row(4, "2024-03-31T21:59:00Z"),  # 23:59 CEST: the last bucket
            row(5, "2024-03-31T22:00:00Z"),  # 1 April: outside
        ],
    )
    r = client.get(
        "/api/v1/reports/daily",
        params={"on": "2024-03-31", "tz": "Europe/Berlin"},
        headers=auth(api_tokens.viewer),
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["metrics"]["count"] == 3
    buckets = data["over_time"]
    assert len(buckets) == 23
    assert buckets[0] == {"bucket": "00:00", "start": "2024-03-30T23:00:00+00:00", "incidents": 1}
    by_label = {b["bucket"]: b["incidents"] for b in buckets}
    assert by_label["03:00"] == 1 and by_label["23:00"] == 1
    assert data["top_services"] == [{"service": "payment-service", "incidents": 3}]
    assert [i["id"] for i in data["open_incidents"]] != []


def test_markdown_and_html_escape_titles_and_draw_svg(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    load(
        client,
        api_tokens.admin,
        [
            row(1, "2024-04-09T10:00:00Z", title="<script>alert(1)</script>"),
            row(2, "2024-04-09T11:00:00Z", severity="SEV1", resolved_at="2024-04-09T12:00:00Z"),
        ],
    )
    v = auth(api_tokens.viewer)
    html = client.get("/api/v1/reports/daily", params={"format": "html"}, headers=v)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    body = html.text
    assert "<svg" in body and body.count('class="bar"') == 24
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "http://" not in body.replace("http://www.w3.org/2000/svg", "")
    assert "SEV1 (1)" in body and "SEV2 (1)" in body
    md = client.get("/api/v1/reports/daily", params={"format": "markdown"}, headers=v).text
    assert md.startswith("# Incident report, daily: 2024-04-09 (UTC)")
    assert "Incidents: **2** (SEV1: 1, SEV2: 1)" in md
    assert "| MTTR | 60.0 min |" in md
    assert "<script>" not in md


def test_periods_and_bad_input(client: TestClient, api_tokens: Tokens) -> None:
    v = auth(api_tokens.viewer)
    for period in ("daily", "weekly", "monthly", "quarterly", "annual"):
        assert client.get(f"/api/v1/reports/{period}", headers=v).status_code == 200
    r = client.get("/api/v1/reports/hourly", headers=v)
    assert r.status_code == 422
    r = client.get("/api/v1/reports/daily", params={"tz": "Mars/Olympus"}, headers=v)
    assert r.status_code == 422 and "tz" in r.text
    assert client.get("/api/v1/reports/daily").status_code == 401
