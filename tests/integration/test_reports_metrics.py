"""The metrics report on hand-computed examples, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def history(client: TestClient, token: str, **body: object) -> str:
    payload: dict[str, object] = {"title": "History", "severity": "SEV2"}
    payload.update(body)
    r = client.post("/api/v1/incidents", json=payload, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def seed(client: TestClient, token: str) -> None:
    # A: started 0, detected 2, declared 3, acked 5, mitigated 20, resolved 40 (SEV1 payments)
    history(
        client,
        token,
        severity="SEV1",
        services=["payment-service"],
        started_at=at(0),
        detected_at=at(2),
        declared_at=at(3),
        acknowledged_at=at(5),
        mitigated_at=at(20),
        resolved_at=at(40),
    )
    # B: no started_at (begin = detected 60), declared 61, acked 71, resolved 120 (SEV2 gateway)
    history(
        client,
        token,
        severity="SEV2",
        services=["api-gateway"],
        detected_at=at(60),
        declared_at=at(61),
        acknowledged_at=at(71),
        mitigated_at=at(90),
        resolved_at=at(120),
    )
    # C: declared 200 only, still open (SEV2 auth)
    history(client, token, severity="SEV2", services=["auth-service"], declared_at=at(200))


def test_means_percentiles_and_missing_on_hand_computed_incidents(
    client: TestClient, api_tokens: Tokens
) -> None:
    seed(client, api_tokens.responder)
    r = client.get(
        "/api/v1/reports/metrics",
        params={"since": at(-1), "until": at(300)},
        headers=auth(api_tokens.viewer),
    )
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["count"] == 3
    assert m["by_severity"] == {"SEV1": 1, "SEV2": 2}
    # MTTD: only A has started_at and detected_at: 2 min.
    assert m["mttd"] == {
        "mean": 120.0,
        "median": 120.0,
        "p50": 120.0,
        "p90": 120.0,
        "measured": 1,
        "missing": 2,
    }
    assert m["mttd_seconds"] == 120.0
    # MTTA: A 2 min, B 10 min; C missing.
    assert m["mtta"]["mean"] == 360.0
    assert m["mtta"]["median"] == 120.0 and m["mtta"]["p90"] == 600.0
    assert m["mtta"]["missing"] == 1
    # MTTM from begin: A 20 min, B 30 min (begin = detected_at).
    assert m["mttm"]["mean"] == 1500.0
    # MTTR: A 40 min, B 60 min.
    assert m["mttr"]["mean"] == 3000.0 and m["mttr"]["p90"] == 3600.0
    # No postmortem names a root cause and no incident has action items.
    assert m["repeat_rate"] == 0.0
    assert m["action_item_completion_rate"] is None


def test_range_and_grouping(client: TestClient, api_tokens: Tokens) -> None:
    seed(client, api_tokens.responder)
    v = auth(api_tokens.viewer)
    r = client.get("/api/v1/reports/metrics", params={"since": at(50), "until": at(300)}, headers=v)
    assert r.json()["count"] == 2
    r = client.get(
        "/api/v1/reports/metrics", params={"group_by": "team", "since": at(-1)}, headers=v
    )
    groups = {g["key"]: g for g in r.json()["groups"]}
    assert groups["platform"]["count"] == 2
    assert groups["payments"]["count"] == 1
    assert groups["payments"]["mttr"]["mean"] == 2400.0
    assert groups["platform"]["mttr"] == {
        "mean": 3600.0,
        "median": 3600.0,
        "p50": 3600.0,
        "p90": 3600.0,
        "measured": 1,
        "missing": 1,
    }
    r = client.get("/api/v1/reports/metrics", params={"group_by": "severity"}, headers=v)
    sev = {g["key"]: g["count"] for g in r.json()["groups"]}
    assert sev == {"SEV1": 1, "SEV2": 2}


def test_bad_input_names_the_field(client: TestClient, api_tokens: Tokens) -> None:
    v = auth(api_tokens.viewer)
    r = client.get("/api/v1/reports/metrics", params={"group_by": "colour"}, headers=v)
    assert r.status_code == 422 and "group_by" in r.text
    r = client.get("/api/v1/reports/metrics", params={"since": at(10), "until": at(0)}, headers=v)
    assert r.status_code == 422 and "until" in r.text
    assert client.get("/api/v1/reports/metrics").status_code == 401


def test_restricted_incidents_count_only_for_those_who_may_see_them(
    client: TestClient, api_tokens: Tokens
) -> None:
    history(client, api_tokens.jane, restricted=True, declared_at=at(0))
    history(client, api_tokens.jane, declared_at=at(1))
    bob = client.get("/api/v1/reports/metrics", headers=auth(api_tokens.bob)).json()
    jane = client.get("/api/v1/reports/metrics", headers=auth(api_tokens.jane)).json()
    assert bob["count"] == 1
    assert jane["count"] == 2


def item(client: TestClient, token: str, key: str, status: str) -> None:
    r = client.post(
        "/api/v1/action-items",
        json={"incident": key, "title": f"Fix ({status})", "priority": "P2",
              "type": "corrective", "owner": "jane.smith"},
        headers=auth(token),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    if status != "open":
        body = {"status": status, **({"reason": "superseded"} if status == "wont_do" else {})}
        moved = client.patch(f"/api/v1/action-items/{r.json()['id']}", json=body,
                             headers=auth(token))  # fmt: skip
        assert moved.status_code == 200, moved.text


def test_action_item_completion_counts_done_and_leaves_out_wont_do(
    client: TestClient, api_tokens: Tokens
) -> None:
    t = api_tokens.jane
    first = history(client, t, declared_at=at(0))
    second = history(client, t, declared_at=at(10))
    outside = history(client, t, declared_at=at(500))
    for key, status in [(first, "done"), (first, "open"), (first, "wont_do"),
                        (second, "done"), (second, "in_progress"), (outside, "open")]:  # fmt: skip
        item(client, t, key, status)
    v = auth(api_tokens.viewer)
    params = {"since": at(-1), "until": at(100)}
    m = client.get("/api/v1/reports/metrics", params=params, headers=v).json()
    # done 2 of 4 (open, in_progress count as not done; wont_do counts neither way).
    assert m["action_item_completion_rate"] == 0.5
    item(client, t, second, "wont_do")
    m = client.get("/api/v1/reports/metrics", params=params, headers=v).json()
    assert m["action_item_completion_rate"] == 0.5
    item(client, t, second, "done")
    m = client.get("/api/v1/reports/metrics", params=params, headers=v).json()
    assert m["action_item_completion_rate"] == 0.6
    # Only the incident outside the range with an open item: nothing done of one.
    later = client.get("/api/v1/reports/metrics", params={"since": at(400)}, headers=v).json()
    assert later["action_item_completion_rate"] == 0.0


def root_cause(client: TestClient, token: str, key: str, category: str) -> dict[str, object]:
    client.post(f"/api/v1/incidents/{key}/postmortem", headers=auth(token))
    r = client.put(f"/api/v1/incidents/{key}/postmortem",
                   json={"root_cause_category": category}, headers=auth(token))  # fmt: skip
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_repeat_rate_counts_incidents_whose_postmortem_repeats_a_recent_root_cause(
    client: TestClient, api_tokens: Tokens
) -> None:
    t = api_tokens.jane
    day = 24 * 60
    keys = [history(client, t, declared_at=at((d - 60) * day)) for d in (0, 10, 12, 50, 60)]
    root_cause(client, t, keys[0], "Connection-leak")
    repeat = root_cause(client, t, keys[1], "connection-leak")  # 10 days after: a repeat
    root_cause(client, t, keys[2], "dns")  # a category seen before within no window
    root_cause(client, t, keys[3], "connection-leak")  # 40 days after the last: not one
    # keys[4] has no postmortem.
    assert repeat["repeat_of"] == [keys[0]]
    v = auth(api_tokens.viewer)
    m = client.get("/api/v1/reports/metrics", params={"since": at(-61 * day)}, headers=v).json()
    assert m["count"] == 5 and m["repeat_rate"] == 0.2
    # The earlier incident counts even when it is before the report's range.
    m = client.get("/api/v1/reports/metrics", params={"since": at(-51 * day)}, headers=v).json()
    assert m["count"] == 4 and m["repeat_rate"] == 0.25
    root_cause(client, t, keys[4], "DNS")  # 48 days after the other dns: not one
    m = client.get("/api/v1/reports/metrics", params={"since": at(-61 * day)}, headers=v).json()
    assert m["repeat_rate"] == 0.2
    root_cause(client, t, keys[3], "dns")  # 38 days after dns, 10 days before DNS: one more
    m = client.get("/api/v1/reports/metrics", params={"since": at(-61 * day)}, headers=v).json()
    assert m["repeat_rate"] == 0.4
    root_cause(client, t, keys[3], "disk-full")  # no longer: keys[4] repeats nothing
    m = client.get("/api/v1/reports/metrics", params={"since": at(-61 * day)}, headers=v).json()
    assert m["repeat_rate"] == 0.2


def test_sql_percentiles_match_the_reference_on_random_incidents(
    client: TestClient, api_tokens: Tokens
) -> None:
    import random

    from warroom.reports.logic import percentile

    rng = random.Random(7)
    rows, spans = [], {"SEV1": [], "SEV2": []}  # type: ignore[var-annotated]
    for n in range(37):
        severity = rng.choice(["SEV1", "SEV2"])
        minutes = rng.randrange(1, 500)
        spans[severity].append(minutes * 60.0)
        rows.append(
            {
                "external_id": f"r-{n}",
                "title": "random",
                "severity": severity,
                "declared_at": at(n),
                "resolved_at": at(n + minutes),
            }
        )
    r = client.post("/api/v1/import/incidents", json=rows, headers=auth(api_tokens.admin))
    assert r.status_code == 200, r.text
    every = spans["SEV1"] + spans["SEV2"]
    m = client.get(
        "/api/v1/reports/metrics", params={"group_by": "severity"}, headers=auth(api_tokens.viewer)
    ).json()
    assert m["mttr"]["p50"] == percentile(every, 50)
    assert m["mttr"]["p90"] == percentile(every, 90)
    assert abs(m["mttr"]["mean"] - sum(every) / len(every)) < 0.01
    for group in m["groups"]:
        values = spans[group["key"]]
        assert group["mttr"]["p50"] == percentile(values, 50)
        assert group["mttr"]["p90"] == percentile(values, 90)
        assert group["mttr"]["measured"] == len(values)
    # A range: a narrow one (on SQLite read by declared_at) and a wide one (by the span
    # indexes) give the reference's figures over the incidents declared in it.
    for first, last in ((10, 11), (5, 30)):
        inside = [rows[n] for n in range(first, last)]
        wanted = [
            (datetime.fromisoformat(x["resolved_at"]) - datetime.fromisoformat(x["declared_at"]))
            / timedelta(seconds=1)
            for x in inside
        ]
        m = client.get(
            "/api/v1/reports/metrics",
            params={"since": at(first), "until": at(last)},
            headers=auth(api_tokens.viewer),
        ).json()
        assert m["count"] == m["mttr"]["measured"] == len(wanted)
        assert m["mttr"]["p50"] == percentile(wanted, 50)
        assert m["mttr"]["p90"] == percentile(wanted, 90)


def test_percentiles_with_ties_an_outlier_and_one_value(
    client: TestClient, api_tokens: Tokens
) -> None:
    rows = [
        {
            "external_id": f"t-{n}",
            "title": "tie",
            "severity": "SEV3",
            "declared_at": at(n),
            "resolved_at": at(n + (500 if n == 10 else 5)),
            "acknowledged_at": at(n + 1),
        }
        for n in range(11)
    ]
    r = client.post("/api/v1/import/incidents", json=rows, headers=auth(api_tokens.admin))
    assert r.status_code == 200, r.text
    m = client.get("/api/v1/reports/metrics", headers=auth(api_tokens.viewer)).json()
    assert m["mttr"]["p50"] == 300.0 and m["mttr"]["p90"] == 300.0  # rank 10 of 11
    assert m["mttr"]["mean"] == round((10 * 300 + 30000) / 11, 3)
    assert m["mtta"] == {
        "mean": 60.0,
        "median": 60.0,
        "p50": 60.0,
        "p90": 60.0,
        "measured": 11,
        "missing": 0,
    }


def test_spans_follow_the_incident_as_it_moves(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    # The spans are columns the database generates from the timestamps (migration 0028):
    # a milestone written later shows in the report without anything else being kept.
    t = api_tokens.responder
    key = history(client, t, severity="SEV2", started_at=clock.now().isoformat())
    v = auth(api_tokens.viewer)
    before = client.get("/api/v1/reports/metrics", headers=v).json()
    assert before["mttm"]["measured"] == 0
    assert before["mttm"]["missing"] == 1
    clock.advance(minutes=25)
    r = client.post(
        f"/api/v1/incidents/{key}/status", json={"status": "monitoring"}, headers=auth(t)
    )
    assert r.status_code == 200, r.text
    after = client.get("/api/v1/reports/metrics", headers=v).json()
    assert after["mttm"]["measured"] == 1
    assert after["mttm"]["missing"] == 0
    assert after["mttm"]["p50"] == after["mttm"]["p90"] == after["mttm"]["mean"] == 1500.0
