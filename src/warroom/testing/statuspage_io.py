"""A local server that speaks the part of Atlassian Statuspage's REST API warroom uses.

`POST /v1/pages/{page}/incidents`, `PATCH /v1/pages/{page}/incidents/{id}` and
`PATCH /v1/pages/{page}/components/{id}`, with `Authorization: OAuth <key>`; it keeps the
incidents and component statuses it was told about, so a test can compare the mirrored
page with warroom's.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from warroom.testing.http import HttpFake
from warroom.testing.recording import Delivered, RecordedRequest, Reply

_INCIDENTS = re.compile(r"^/v1/pages/(?P<page>[A-Za-z0-9]+)/incidents(?:/(?P<id>[A-Za-z0-9]+))?$")
_COMPONENT = re.compile(r"^/v1/pages/(?P<page>[A-Za-z0-9]+)/components/(?P<id>[A-Za-z0-9]+)$")
_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
_COMPONENT_STATUSES = {
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance",
}  # fmt: skip


class FakeStatuspageIo(HttpFake):
    def __init__(
        self,
        *,
        page_id: str = "fakepage01",
        api_key: str = "fake-statuspage-key",  # a fake's own test credential
        component_ids: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.page_id = page_id
        self.api_key = api_key
        self.incidents: dict[str, dict[str, Any]] = {}
        self.components: dict[str, str] = {c: "operational" for c in component_ids}
        super().__init__(**kwargs)

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        if request.header("authorization") != f"OAuth {self.api_key}":
            return Reply.json(401, {"error": "Could not authenticate"}), []
        try:
            document = request.json()
        except ValueError:
            return Reply.json(400, {"error": "invalid JSON"}), []
        delivered = [Delivered(request.path, request.body.decode(), {"json": document})]
        if found := _INCIDENTS.match(request.path):
            if found["page"] != self.page_id:
                return Reply.json(404, {"error": "page not found"}), []
            return self._incident(request.method, found["id"], document), delivered
        if found := _COMPONENT.match(request.path):
            status = ((document or {}).get("component") or {}).get("status")
            if request.method != "PATCH" or found["page"] != self.page_id:
                return Reply.json(404, {"error": "not found"}), []
            if found["id"] not in self.components:
                return Reply.json(404, {"error": "component not found"}), []
            if status not in _COMPONENT_STATUSES:
                return Reply.json(422, {"error": "status is invalid"}), []
            self.components[found["id"]] = status
            return Reply.json(200, {"id": found["id"], "status": status}), delivered
        return Reply.json(404, {"error": "not found"}), []

    def _incident(self, method: str, ident: str | None, document: Any) -> Reply:
        fields = (document or {}).get("incident")
        if not isinstance(fields, dict) or fields.get("status", "investigating") not in _STATUSES:
            return Reply.json(422, {"error": "incident is invalid"})
        for component, status in (fields.get("components") or {}).items():
            if component not in self.components or status not in _COMPONENT_STATUSES:
                return Reply.json(422, {"error": f"component {component} is invalid"})
        if method == "POST" and ident is None:
            if not fields.get("name"):
                return Reply.json(422, {"error": "name can't be blank"})
            ident = secrets.token_hex(6)
            self.incidents[ident] = {"id": ident, "incident_updates": [], **fields}
        elif method == "PATCH" and ident in self.incidents:
            self.incidents[ident].update(fields)
        else:
            return Reply.json(404, {"error": "incident not found"})
        incident = self.incidents[ident]
        incident["incident_updates"].insert(
            0, {"status": fields.get("status"), "body": fields.get("body")}
        )
        self.components.update(fields.get("components") or {})
        return Reply.json(201 if method == "POST" else 200, incident)
