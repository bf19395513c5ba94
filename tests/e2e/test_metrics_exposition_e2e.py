"""A real Prometheus scrapes warroom's own `GET /metrics`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.monitoring import (
    checked,
    instant_query,
    logs_on_failure,
    prometheus,
    require_binary,
    wait_for,
    warroom,
)

pytestmark = pytest.mark.e2e


def test_prometheus_scrapes_open_incidents_and_engine_health(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    with warroom(tmp_path / "warroom") as server, server.client() as api:
        checked(
            api.post(
                "/api/v1/incidents",
                json={"title": "Checkout failing", "severity": "SEV1", "services": ["api-gateway"]},
            ),
            201,
        )
        target = server.url.removeprefix("http://")
        with (
            prometheus(tmp_path / "prometheus", [target]) as prom,
            logs_on_failure(prom, server.service),
        ):
            services = (prom, server.service)
            up = wait_for(
                "Prometheus to scrape warroom",
                lambda: instant_query(prom, 'up{job="warroom-e2e"}'),
                lambda series: [s["value"][1] for s in series] == ["1"],
                timeout=30.0,
                services=services,
            )
            assert up
            series = wait_for(
                "the open SEV1 incident in Prometheus",
                lambda: instant_query(prom, "warroom_open_incidents"),
                lambda found: any(s["metric"].get("severity") == "SEV1" for s in found),
                timeout=20.0,
                services=services,
            )
            sev1 = next(s for s in series if s["metric"]["severity"] == "SEV1")
            assert sev1["value"][1] == "1"
            lag = instant_query(prom, "warroom_engine_timer_lag_seconds")
            assert len(lag) == 1 and float(lag[0]["value"][1]) >= 0
            assert instant_query(prom, "warroom_outbox_depth")
            assert instant_query(prom, "warroom_ingest_queue_depth")


def test_the_shipped_alert_rules_are_valid_for_promtool() -> None:
    import subprocess

    promtool = require_binary("promtool", "prometheus")
    rules = Path(__file__).resolve().parents[2] / "examples" / "prometheus" / "warroom-alerts.yml"
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout
