"""Importing history: JSON and CSV, row-and-field errors, all or nothing, idempotent."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.context import AppContext


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ROWS = [
    {
        "external_id": "PD-1",
        "title": "Checkout down",
        "severity": "SEV1",
        "services": ["payment-service"],
        "started_at": "2024-01-10T10:00:00Z",
        "detected_at": "2024-01-10T10:03:00Z",
        "declared_at": "2024-01-10T10:05:00+00:00",
        "acknowledged_at": "2024-01-10T10:06:00Z",
        "resolved_at": "2024-01-10T11:00:00Z",
    },
    {
        "external_id": "PD-2",
        "title": "Login slow",
        "severity": "SEV3",
        "declared_at": "2024-02-01T08:00:00+01:00",
    },
]

CSV = (
    "external_id,title,severity,services,declared_at,acknowledged_at,resolved_at\n"
    "OG-1,Queue backlog,SEV2,api-gateway;auth-service,2024-01-05T10:00:00Z,"
    "2024-01-05T10:10:00Z,2024-01-05T12:00:00Z\n"
    "OG-2,DNS flaps,SEV3,,2024-01-06T10:00:00Z,,\n"
)


def count(client: TestClient, token: str) -> int:
    return int(client.get("/api/v1/reports/metrics", headers=auth(token)).json()["count"])


def test_json_import_is_idempotent_on_the_external_id(
    client: TestClient, api_tokens: Tokens
) -> None:
    admin = auth(api_tokens.admin)
    r = client.post("/api/v1/import/incidents", json={"incidents": ROWS}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and r.json()["skipped"] == 0
    key = r.json()["incidents"][0]
    incident = client.get(f"/api/v1/incidents/{key}", headers=admin).json()
    assert incident["status"] == "resolved"
    assert incident["declared_at"] == "2024-01-10T10:05:00Z"
    again = client.post("/api/v1/import/incidents", json={"incidents": ROWS}, headers=admin)
    assert again.json() == {
        "created": 0,
        "skipped": 2,
        "incidents": [],
        "skipped_external_ids": ["PD-1", "PD-2"],
        "dry_run": False,
    }
    assert count(client, api_tokens.admin) == 2
    m = client.get("/api/v1/reports/metrics", headers=admin).json()
    assert m["mttr"]["mean"] == 3600.0  # PD-1: started 10:00, resolved 11:00
    assert m["mttd"]["mean"] == 180.0


def test_csv_import_raw_and_wrapped(client: TestClient, api_tokens: Tokens) -> None:
    admin = auth(api_tokens.admin)
    r = client.post(
        "/api/v1/import/incidents",
        content=CSV.encode(),
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    key = r.json()["incidents"][0]
    incident = client.get(f"/api/v1/incidents/{key}", headers=admin).json()
    assert incident["services"] == ["api-gateway", "auth-service"]
    r = client.post("/api/v1/import/incidents", json={"csv": CSV}, headers=admin)
    assert r.json()["skipped"] == 2


def test_one_bad_row_imports_nothing_and_names_row_and_field(
    client: TestClient, api_tokens: Tokens
) -> None:
    admin = auth(api_tokens.admin)
    bad = [
        *ROWS,
        {
            "external_id": "PD-3",
            "title": "x",
            "severity": "SEV9",
            "declared_at": "2024-01-01T00:00:00Z",
        },
        {
            "external_id": "PD-4",
            "title": "y",
            "severity": "SEV2",
            "declared_at": "2024-01-01T00:00:00",
        },
        {
            "external_id": "PD-5",
            "title": "z",
            "severity": "SEV2",
            "declared_at": "2024-01-01T10:00:00Z",
            "resolved_at": "2024-01-01T09:00:00Z",
        },
        {
            "external_id": "PD-1",
            "title": "dup",
            "severity": "SEV2",
            "declared_at": "2024-01-01T00:00:00Z",
        },
    ]
    r = client.post("/api/v1/import/incidents", json={"incidents": bad}, headers=admin)
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["details"]["problems"]
    where = {(p["row"], p["field"]) for p in problems}
    assert (3, "severity") in where
    assert (4, "declared_at") in where  # no time zone: not an explicit timestamp
    assert any(p["row"] == 5 for p in problems)
    assert (6, "external_id") in where
    assert "row 3" in r.json()["error"]["message"]
    assert count(client, api_tokens.admin) == 0


def test_dry_run_stores_nothing_and_import_needs_admin(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = client.post(
        "/api/v1/import/incidents?dry_run=true",
        json={"incidents": ROWS},
        headers=auth(api_tokens.admin),
    )
    assert r.json()["created"] == 2 and r.json()["dry_run"] is True
    assert count(client, api_tokens.admin) == 0
    r = client.post(
        "/api/v1/import/incidents", json={"incidents": ROWS}, headers=auth(api_tokens.responder)
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/import/incidents", content=b"{not json", headers=auth(api_tokens.admin)
    )
    assert r.status_code == 422 and "body" in r.text


def test_business_impact_from_configured_revenue(
    client: TestClient, api_tokens: Tokens, ctx: AppContext
) -> None:
    from warroom.config.reports import ReportsConfig

    ctx.config = ctx.config.model_copy(
        update={"reports": ReportsConfig(revenue_per_user_per_minute={"payment-service": 0.05})}
    )
    rows = [
        {  # 1,000 users x 60 minutes x 0.05 = 3,000
            "external_id": "BI-1",
            "title": "Checkout down",
            "severity": "SEV1",
            "services": ["payment-service", "api-gateway"],
            "affected_users": 1000,
            "started_at": "2024-01-10T10:00:00Z",
            "declared_at": "2024-01-10T10:05:00Z",
            "resolved_at": "2024-01-10T11:00:00Z",
        },
        {  # no revenue figure for its service: not valued
            "external_id": "BI-2",
            "title": "Gateway slow",
            "severity": "SEV2",
            "services": ["api-gateway"],
            "affected_users": 50,
            "declared_at": "2024-01-11T10:00:00Z",
            "resolved_at": "2024-01-11T11:00:00Z",
        },
        {  # unknown affected users: not valued (never taken as zero)
            "external_id": "BI-3",
            "title": "Payments flaky",
            "severity": "SEV2",
            "services": ["payment-service"],
            "declared_at": "2024-01-12T10:00:00Z",
            "resolved_at": "2024-01-12T11:00:00Z",
        },
    ]
    admin = auth(api_tokens.admin)
    assert client.post("/api/v1/import/incidents", json=rows, headers=admin).status_code == 200
    m = client.get("/api/v1/reports/metrics", headers=admin).json()
    assert m["business_impact"] == {"total": 3000.0, "valued": 1, "missing": 2}


def test_a_csv_with_an_unknown_column_names_it(client: TestClient, api_tokens: Tokens) -> None:
    text = "external_id,title,severity,declared_at,colour\nC-1,x,SEV2,2024-01-01T00:00:00Z,red\n"
    r = client.post("/api/v1/import/incidents", json={"csv": text}, headers=auth(api_tokens.admin))
    assert r.status_code == 422
    assert {"row": 1, "field": "colour", "message": "Extra inputs are not permitted"} in (
        r.json()["error"]["details"]["problems"]
    )


def test_csv_import_behind_the_guard(client: TestClient, api_tokens: Tokens) -> None:
    csv_headers = {"Content-Type": "text/csv"}
    # No token: 401 before the body is read, nothing stored.
    r = client.post("/api/v1/import/incidents", content=CSV.encode(), headers=csv_headers)
    assert r.status_code == 401
    admin = {**auth(api_tokens.admin), **csv_headers}
    # Over the server's body limit (WARROOM_MAX_BODY_BYTES, 1 MiB by default): 413 naming
    # the body, nothing stored.
    padding = "".join(f"BIG-{i},{'x' * 200},SEV3,,2024-01-07T10:00:00Z,,\n" for i in range(5500))
    big = CSV.split("\n", 1)[0] + "\n" + padding
    assert len(big.encode()) > 1024 * 1024
    r = client.post("/api/v1/import/incidents", content=big.encode(), headers=admin)
    assert r.status_code == 413 and r.json()["error"]["details"][0]["field"] == "body"
    assert count(client, api_tokens.admin) == 0
    # A NUL character in a cell: refused naming the row and field, nothing stored.
    bad = CSV.replace("Queue backlog", "Queue\x00backlog")
    r = client.post("/api/v1/import/incidents", content=bad.encode(), headers=admin)
    assert 400 <= r.status_code < 500, r.text
    assert "title" in r.text
    assert count(client, api_tokens.admin) == 0
    # Within the limit, a text/csv body goes through the guard untouched.
    r = client.post("/api/v1/import/incidents", content=CSV.encode(), headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and count(client, api_tokens.admin) == 2
