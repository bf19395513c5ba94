"""`GET /metrics`: the Prometheus text format, the allow-list and tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Timer


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counts_lag_and_token(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    # The test client's address ("testclient") is not on the allow-list: a token is needed.
    assert client.get("/metrics").status_code == 401
    # Behind the guard: a NUL character in the query is refused before the route runs.
    nul = client.get("/metrics?name=%00", headers={"Authorization": f"Bearer {api_tokens.viewer}"})
    assert nul.status_code == 422 and nul.json()["error"]["details"][0]["field"] == "name"
    h = {"Authorization": f"Bearer {api_tokens.viewer}"}
    for severity in ("SEV1", "SEV2", "SEV2"):
        r = client.post(
            "/api/v1/incidents",
            json={"title": "x", "severity": severity},
            headers={"Authorization": f"Bearer {api_tokens.responder}"},
        )
        assert r.status_code == 201
    with ctx.db.unit_of_work() as uow:
        uow.session.add(
            Timer(
                kind="test",
                key="metrics-lag",
                due_at=clock.now() - timedelta(seconds=90),
                payload={},
                status="pending",
                created_at=clock.now(),
            )
        )
        uow.commit()
    r = client.get("/metrics", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert got[("warroom_open_incidents", (("severity", "SEV1"),))] == 1
    assert got[("warroom_open_incidents", (("severity", "SEV2"),))] == 2
    assert got[("warroom_engine_timer_lag_seconds", ())] >= 90
    assert ("warroom_outbox_depth", ()) in got
