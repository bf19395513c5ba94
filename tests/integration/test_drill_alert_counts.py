"""A drill's alerts and the `alert_count` auto-declare rules (docs/drills.md): real and drill
alerts are never counted together. A drill's injected alerts cannot declare a real incident
nor push a real count over its threshold; a drill can exercise a count rule, and its incident
is the drill's, without holding back the real rule's once-per-window."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from tests.integration.test_alert_routing import (
    auth,
    make_integration,
    pd_event,
    post_pd,
    with_rules,
)
from tests.integration.test_drills import settle
from warroom.alerts.rule_models import RuleState
from warroom.clock import FakeClock
from warroom.config.alerts import AlertGrouping
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.incidents.models import Incident

STORM = {
    "name": "payments-storm",
    "when": {"alert_count": {"service": "payment-service", "within": "15m", "above_baseline": 1,
                             "baseline": "1h", "minimum": 3}},
    "declare": {"severity": "SEV2", "title": "Alert storm on payments"},
}  # fmt: skip


def _setup(ctx: AppContext, client: TestClient, admin: str, config: WarroomConfig) -> str:
    ctx.config = with_rules(config, STORM, alert_grouping=AlertGrouping(by_service=False))
    make_integration(client, admin, "pagerduty", "payment-service", "drill-payments")
    return make_integration(client, admin, "pagerduty", "payment-service", "real-payments")


def _start_drill(client: TestClient, admin: str, alerts: int) -> None:
    scenario: dict[str, Any] = {
        "name": "payments-storm-drill",
        "title": "Payments alert storm",
        "integration": "drill-payments",
        "participants": ["jane.smith"],
        "alerts": [{"summary": f"payments check {n} failing", "key": f"d{n}"}
                   for n in range(alerts)],
    }  # fmt: skip
    r = client.post("/api/v1/drills", json={"scenario": scenario}, headers=auth(admin))
    assert r.status_code == 201, r.text


def _real(client: TestClient, key: str, n: int) -> None:
    post_pd(client, pd_event(key, "trigger", f"real-{n}", custom_details={}))


def _incidents(ctx: AppContext) -> list[tuple[int | None, str | None, Any]]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.scalars(select(Incident).order_by(Incident.id)).all()
        return [(i.drill_id, i.declared_by_rule, i.title) for i in rows]


def _count_states(ctx: AppContext) -> dict[str, Any]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.scalars(select(RuleState).where(RuleState.rule == STORM["name"]))
        return {r.subject: r.last_value for r in rows}


def test_drill_alerts_do_not_count_towards_a_real_declaration(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock,
    config: WarroomConfig,
) -> None:  # fmt: skip
    real = _setup(ctx, client, api_tokens.admin, config)
    _start_drill(client, api_tokens.admin, alerts=2)  # below the minimum of 3
    settle(ctx)
    clock.advance(minutes=1)
    _real(client, real, 1)  # 3 alerts on payments in the window, but only 1 real
    settle(ctx)
    assert _incidents(ctx) == []
    clock.advance(minutes=1)
    _real(client, real, 2)
    _real(client, real, 3)
    settle(ctx)
    [(drill, rule, _)] = _incidents(ctx)
    assert (drill, rule) == (None, STORM["name"])  # a real incident, from real alerts only
    assert _count_states(ctx)["count"]["count"] == 3  # not 5


def test_a_drill_exercises_the_rule_without_holding_back_the_real_one(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock,
    config: WarroomConfig,
) -> None:  # fmt: skip
    real = _setup(ctx, client, api_tokens.admin, config)
    _start_drill(client, api_tokens.admin, alerts=3)
    settle(ctx)
    # The drill's own count fired: its incident is the drill's, under a state of its own.
    assert [(d, r) for d, r, _ in _incidents(ctx)] == [(1, STORM["name"])]
    states = _count_states(ctx)
    assert set(states) == {"count:drill:1"} and states["count:drill:1"]["count"] == 3
    clock.advance(minutes=2)
    for n in range(3):
        _real(client, real, n)
    settle(ctx)
    # The real rule was not held back by the drill's firing, and counted 3 real alerts.
    assert [(d, r) for d, r, _ in _incidents(ctx)] == [(1, STORM["name"]), (None, STORM["name"])]
    assert _count_states(ctx)["count"]["count"] == 3
