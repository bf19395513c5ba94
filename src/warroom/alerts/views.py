"""Alerts in (`/v2/enqueue`, `/api/v1/integrations/alertmanager`) and alerts out (`/api/v1/alerts`).

The ingest routes are `async`: they read the body, validate it, and wait on the batch
writer, without a thread per request. They answer 2xx only after the commit, 400 for
input that will never be valid, and 503 (which senders retry) for anything transient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, cast

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict
from sqlalchemy.orm import Session

from warroom import jsonbody
from warroom.alerts import service
from warroom.alerts.ingest import BatchWriter, Unavailable
from warroom.alerts.logic import (
    MAX_BODY_BYTES,
    AlertEvent,
    AlertStatus,
    InvalidEvent,
    parse_alertmanager,
    parse_pd_event,
)
from warroom.alerts.service import Applied, Source
from warroom.api import IdPath, IdQuery, UowDep, Viewer, bearer_token
from warroom.context import AppContext
from warroom.direct_routes import BODY
from warroom.errors import Unauthorized, ValidationFailed
from warroom.incidents.service import parse_key
from warroom.integrations.service import PD_EVENTS_TYPES, IntegrationType, KeyCache
from warroom.jsonbody import Unstorable

router = APIRouter(tags=["alerts"])

JSON = "application/json"


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes of the body; raise BodyTooLarge beyond, without reading
    the rest. On a direct route the body has already been read (`direct_routes.BODY`)."""
    read = request.scope.get(BODY)
    if read is not None:
        if len(read) > limit:
            raise BodyTooLarge
        return bytes(read)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """Read at most `limit` bytes and parse them; raise BodyTooLarge, Unstorable (JSON that
    can never be stored: see `jsonbody`) or ValueError (not JSON)."""
    return jsonbody.parse(await read_body(request, limit))


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _writer(request: Request) -> BatchWriter:
    writer: BatchWriter = request.app.state.ingest
    return writer


def _keys(request: Request) -> KeyCache:
    keys: KeyCache = request.app.state.integration_keys
    return keys


class _NeedsDatabase(Exception):
    """The key cache cannot answer without reading the database."""


class _CacheOnly:
    """Stands in for a session: the key cache answers a hit without touching its session,
    and any use of this one (a miss) raises _NeedsDatabase."""

    def __getattr__(self, name: str) -> Any:
        raise _NeedsDatabase


_CACHE_ONLY = cast(Session, _CacheOnly())


async def lookup_source(
    request: Request, key: str, type: IntegrationType | frozenset[IntegrationType]
) -> Source | None:
    """The integration of this key if it is of this type; None for any other key, so that a
    key of another type is refused exactly like an unknown one."""
    keys = _keys(request)
    # The cache answers almost always: do that here, on the event loop, rather than with a
    # thread hop and a session per event (the hop also costs a GIL hand-over each way).
    try:
        return keys.lookup(_CACHE_ONLY, key, type)
    except _NeedsDatabase:
        pass
    ctx = _ctx(request)

    def find() -> Source | None:
        with ctx.db.unit_of_work() as uow:
            return keys.lookup(uow.session, key, type)

    # Only a miss needs the database (in a thread).
    return await asyncio.to_thread(find)


async def submit(request: Request, items: Sequence[tuple[Source, AlertEvent]]) -> list[Applied]:
    return await _writer(request).submit(items)


# --- PagerDuty Events API v2 ----------------------------------------------------------------


def pd_invalid(errors: list[str]) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status_code=400,
    )


def pd_unstorable(exc: Unstorable) -> JSONResponse:
    """PagerDuty's 400 for a body that parses but can never be stored, naming the field."""
    if exc.field == "body":
        return pd_invalid([f"Event object {exc.problem}"])
    return pd_invalid([f"'{exc.field}' {exc.problem}"])


async def read_pd_body(request: Request) -> Any:
    """The body of a PagerDuty Events API request, or the answer PagerDuty gives when it
    cannot be read (a JSONResponse)."""
    try:
        return await read_json(request)
    except BodyTooLarge:
        return JSONResponse(
            {
                "status": "invalid event",
                "message": "Request too large",
                "errors": ["Payload exceeds 512 KB"],
            },
            status_code=413,
        )
    except Unstorable as exc:
        return pd_unstorable(exc)
    except ValueError:
        return JSONResponse(
            {
                "status": "Unrecognized object",
                "message": "Event object format is unrecognized",
                "errors": ["JSON parse error"],
            },
            status_code=400,
        )


INVALID_ROUTING_KEY = "Invalid routing key"


@router.post("/v2/enqueue", status_code=202, include_in_schema=False)
async def pagerduty_enqueue(request: Request) -> Response:
    """PagerDuty Events API v2: point any PagerDuty sender here with a warroom routing key."""
    body = await read_pd_body(request)
    if isinstance(body, JSONResponse):
        return body
    try:
        routing_key, event = parse_pd_event(body)
    except InvalidEvent as exc:
        return pd_invalid(exc.errors)
    try:
        source = await lookup_source(request, routing_key, PD_EVENTS_TYPES)
        if source is None:
            return pd_invalid([INVALID_ROUTING_KEY])
        await submit(request, [(source, event)])
    except InvalidEvent as exc:
        return pd_invalid(exc.errors)
    except Exception:
        return unavailable_pd()
    return pd_accepted(event.dedup_key)


_ACCEPTED = b'{"status":"success","message":"Event processed","dedup_key":'


class _Accepted(Response):
    """A JSON response whose headers are written directly: the two that Response works out
    (from its arguments, on every answer) for a JSON body without headers of its own."""

    media_type = JSON

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        assert headers is None
        self.raw_headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
        ]


def pd_accepted(dedup_key: str) -> Response:
    """PagerDuty's 202, the same bytes as a JSONResponse of it, without its encoder: only
    the dedup key changes from one answer to the next."""
    return _Accepted(_ACCEPTED + orjson.dumps(dedup_key) + b"}", 202)


def unavailable_pd() -> JSONResponse:
    return JSONResponse(
        {
            "status": "unavailable",
            "message": "Event not processed; retry",
            "errors": ["Service unavailable"],
        },
        status_code=503,
        headers={"Retry-After": "1"},
    )


# --- Prometheus Alertmanager ----------------------------------------------------------------


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
    )


def integration_key(request: Request) -> str | None:
    """The integration key as a Bearer token or `?key=`."""
    return bearer_token(request) or request.query_params.get("key") or None


async def ingest_batch(
    request: Request, type: IntegrationType, parse: Any, *, status_code: int = 200
) -> JSONResponse:
    """Shared body of the JSON webhook receivers: authenticate by key, parse, commit."""
    key = integration_key(request)
    if not key:
        raise Unauthorized("integration key missing: send it as a Bearer token or ?key=")
    try:
        body = await read_json(request)
    except BodyTooLarge:
        return _error(413, "payload_too_large", "body exceeds 512 KB")
    except Unstorable as exc:
        return _error(400, "invalid_event", exc.message, {"field": exc.field})
    except ValueError:
        return _error(400, "bad_request", "body is not valid JSON", {"field": "body"})
    try:
        source = await lookup_source(request, key, type)
    except Exception:
        return _error(503, "unavailable", "database unavailable; retry")
    if source is None:
        raise Unauthorized(f"unknown {type.value} integration key")
    try:
        events: list[AlertEvent] = parse(body)
    except InvalidEvent as exc:
        field = exc.errors[0].split(":", 1)[0] if exc.errors else "body"
        return _error(400, "invalid_event", exc.errors[0], {"field": field, "errors": exc.errors})
    try:
        applied = await submit(request, [(source, e) for e in events])
    except InvalidEvent as exc:
        return _error(400, "invalid_event", exc.errors[0], {"errors": exc.errors})
    except Unavailable as exc:
        return _error(503, "unavailable", str(exc))
    except Exception:
        return _error(503, "unavailable", "not committed; retry")
    counts: dict[str, int] = {}
    for result in applied:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    return JSONResponse(
        {"status": "success", "alerts": len(applied), "outcomes": counts}, status_code=status_code
    )


@router.post("/api/v1/integrations/alertmanager")
async def alertmanager_webhook(request: Request) -> JSONResponse:
    """Prometheus Alertmanager `webhook_configs` receiver (payload version 4)."""
    return await ingest_batch(request, IntegrationType.ALERTMANAGER, parse_alertmanager)


# --- reading alerts -------------------------------------------------------------------------


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    integration_id: int
    dedup_key: str
    status: AlertStatus
    service: str
    summary: str
    source: str | None
    severity: str
    component: str | None
    group: str | None
    class_: str | None
    group_key: str | None
    labels: dict[str, Any]
    details: dict[str, Any]
    occurrences: int
    started_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    suppressed: bool
    incident: str | None


class AlertDetail(AlertRead):
    payload: dict[str, Any]


class AlertPage(BaseModel):
    items: list[AlertRead]
    total: int
    limit: int
    offset: int


def _to_read(alert: Any, model: type[AlertRead] = AlertRead) -> AlertRead:
    data = {name: getattr(alert, name) for name in model.model_fields if name != "incident"}
    if isinstance(data.get("payload"), dict) and "routing_key" in data["payload"]:
        # Alerts stored before routing keys were left out of payloads: never show the key.
        data["payload"] = {k: v for k, v in data["payload"].items() if k != "routing_key"}
    data["incident"] = f"INC-{alert.incident_id}" if alert.incident_id else None
    return model(**data)


# The database's ids (and offsets) are 32-bit: a larger number is no row, and the database
# would answer it with an error rather than with nothing.
INT_MAX = 2**31 - 1


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Text = Annotated[str | None, AfterValidator(_no_nul)]


@router.get("/api/v1/alerts", response_model=AlertPage)
def list_alerts(
    uow: UowDep,
    who: Viewer,
    status: Annotated[list[AlertStatus] | None, Query()] = None,
    integration: IdQuery = None,
    dedup_key: Annotated[Text, Query(max_length=255)] = None,
    incident: Annotated[str | None, Query()] = None,
    service_name: Annotated[Text, Query(alias="service", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> AlertPage:
    """Alerts, newest first."""
    number = parse_key(incident) if incident else None
    if number is not None and number > INT_MAX:
        raise ValidationFailed(f"incident: no incident can be numbered {number}", field="incident")
    filters = service.AlertFilters(
        status=status or (),
        integration=integration,
        dedup_key=dedup_key,
        incident=number,
        service=service_name,
    )
    rows, total = service.list_alerts(
        uow.session, viewer=who, filters=filters, limit=limit, offset=offset
    )
    return AlertPage(items=[_to_read(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail)
def show_alert(alert_id: IdPath, uow: UowDep, who: Viewer) -> AlertRead:
    """One alert with its occurrence count, first/last seen, source payload and incident."""
    return _to_read(service.get(uow.session, alert_id=alert_id, viewer=who), AlertDetail)
