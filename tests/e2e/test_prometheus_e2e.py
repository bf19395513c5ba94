"""A real Prometheus, scraping a tiny exporter, drives a PromQL auto-declaration rule.

The exporter serves a gauge the test sets; Prometheus scrapes it every second; the
warroom server queries Prometheus every second for the rule's expression and declares an
incident once the expression has returned the series for the rule's `for`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.monitoring import (
    Exporter,
    Service,
    checked,
    holds_for,
    instant_query,
    logs_on_failure,
    prometheus,
    queries,
    require_binary,
    wait_for,
    warroom,
)

pytestmark = pytest.mark.e2e

METRIC = "warroom_e2e_error_ratio"
QUERY = f"{METRIC} > 10"
RULE = "e2e-error-ratio"
HOLD = timedelta(seconds=3)
DECLARE_TIMEOUT = 30.0


def rules(prometheus_url: str) -> str:
    return f"""\
auto_declare:
  - name: {RULE}
    description: "End-to-end test: error ratio above 10%"
    when:
      promql: '{QUERY}'
    for: 3s
    declare:
      severity: SEV1
      type: service_outage
      service: api-gateway
      title: "Error ratio {{value}}% on {{labels.service}}"

prometheus:
  url: {prometheus_url}
  timeout: 2s
  interval: 1s
"""


def asked_again(prom: Service, before: int, services: tuple[Service, ...]) -> None:
    """Wait until warroom has queried the rule's expression three more times (about three
    seconds at `interval: 1s`), so that what held meanwhile held over real evaluations."""
    wait_for(
        f"warroom to query `{QUERY}` three more times",
        lambda: queries(prom, QUERY),
        lambda count: count >= before + 3,
        timeout=15.0,
        services=services,
    )


def test_promql_rule_declares_once_from_a_real_prometheus(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    with Exporter() as exporter:
        exporter.set(METRIC, 5, service="api-gateway")
        with (
            prometheus(tmp_path / "prometheus", [exporter.target]) as prom,
            warroom(tmp_path / "warroom", rules(prom.url)) as server,
            server.client() as api,
            logs_on_failure(prom, server.service),
        ):
            services = (prom, server.service)

            def incidents() -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = checked(api.get("/api/v1/incidents"))["items"]
                return items

            def scraped() -> list[str]:
                return [s["value"][1] for s in instant_query(prom, METRIC)]

            wait_for(
                "Prometheus to scrape 5",
                scraped,
                lambda values: values == ["5"],
                timeout=20.0,
                services=services,
            )

            # Below the threshold: warroom keeps asking, Prometheus returns no series.
            asked = queries(prom, QUERY)
            holds_for("no incident at 5%", 5.0, incidents, lambda found: found == [])
            asked_again(prom, asked, services)
            assert incidents() == []
            assert "not evaluated" not in server.service.log.read_text(errors="replace")

            exporter.set(METRIC, 15, service="api-gateway")
            wait_for(
                "Prometheus to scrape 15",
                scraped,
                lambda values: values == ["15"],
                timeout=20.0,
                services=services,
            )
            [incident] = wait_for(
                f"rule {RULE} to declare an incident",
                incidents,
                lambda found: len(found) > 0,
                timeout=DECLARE_TIMEOUT,
                services=services,
            )
            assert incident["severity"] == "SEV1"
            assert incident["type"] == "service_outage"
            assert incident["services"] == ["api-gateway"]
            assert incident["status"] == "investigating"
            assert re.fullmatch(r"Error ratio 15(\.0*)?% on api-gateway", incident["title"])
            # Detected when the condition began holding, declared once it held for `for`.
            detected = datetime.fromisoformat(incident["detected_at"])
            declared = datetime.fromisoformat(incident["declared_at"])
            assert declared - detected >= HOLD, (detected, declared)

            # While the condition keeps holding, warroom keeps asking and declares no more.
            asked = queries(prom, QUERY)
            holds_for(
                "exactly one incident while the condition holds",
                3.0,
                incidents,
                lambda found: [i["id"] for i in found] == [incident["id"]],
                services=services,
            )
            asked_again(prom, asked, services)
            assert [i["id"] for i in incidents()] == [incident["id"]]

            # The detection and the declaration, and nothing else from the rule: no second
            # firing into the incident, no upgrade. (Paging writes events of its own.)
            timeline = checked(api.get(f"/api/v1/incidents/{incident['id']}/timeline"))
            events = [
                e
                for e in timeline["events"]
                if e["type"] in ("alert", "declaration") or e["details"].get("rule") == RULE
            ]
            assert [e["type"] for e in events] == ["alert", "declaration"], timeline["events"]
            detection, declaration = events
            assert detection["description"].startswith(f"PromQL condition of rule {RULE} began")
            assert detection["details"]["query"] == QUERY
            details = declaration["details"]
            assert declaration["source"] == "automation"
            assert RULE in declaration["description"]
            assert details["rule"] == RULE
            assert details["query"] == QUERY
            assert details["condition"] == {"promql": QUERY, "for": "3 seconds"}
            assert details["values"]["value"] == 15
            assert details["values"]["labels.service"] == "api-gateway"
            assert details["series"]["value"] == 15
            assert details["series"]["labels"]["service"] == "api-gateway"
            assert details["series"]["labels"]["job"] == "warroom-e2e"
