"""Importers for PagerDuty, Opsgenie and Grafana OnCall history (docs/import.md).

Each reads the JSON its vendor's REST API answers list requests with — PagerDuty's
`{"incidents": [...]}`, `{"schedules": [...]}`, `{"escalation_policies": [...]}`,
`{"users": [...]}`; Opsgenie's `{"data": [...]}`; Grafana OnCall's paginated
`{"results": [...]}` — and makes a `Plan`: warroom incidents (imported through
`warroom.reports.importer`, idempotent on `<vendor>:<id>`), and the users, schedules and
escalation policies as a configuration fragment (those live in warroom's YAML
configuration), with every record that could not be mapped and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warroom.config.schema import WarroomConfig
from warroom.reports.vendors.common import MAX_RECORDS, Mapper, Note, Plan, Vendor
from warroom.reports.vendors.grafana_oncall import GrafanaOnCall
from warroom.reports.vendors.opsgenie import Opsgenie
from warroom.reports.vendors.pagerduty import PagerDuty

__all__ = ["Mapper", "Note", "Plan", "Vendor", "plan"]

IMPORTERS: dict[Vendor, Callable[[WarroomConfig], Mapper]] = {
    Vendor.PAGERDUTY: PagerDuty,
    Vendor.OPSGENIE: Opsgenie,
    Vendor.GRAFANA_ONCALL: GrafanaOnCall,
}


def plan(vendor: Vendor, config: WarroomConfig, documents: list[Any]) -> Plan:
    """Map the vendor's API documents; nothing is written."""
    result = IMPORTERS[vendor](config).run(documents)
    if len(result.incidents) > MAX_RECORDS:
        raise ValueError(f"at most {MAX_RECORDS} incidents per import")
    return result
