"""Evidence and regulatory clocks on the incident page (HTML forms, `_security.html`).

The forms join the web UI's router (its session, CSRF check and security headers) and
call the same services as the API: an upload is sealed chunk by chunk as the multipart
body streams in (the guard hands it over unread, `STREAMING_FORMS`), a download is
decrypted as it streams out after its custody entry is written, a verification goes on
the custody chain. Only those who may read the incident's evidence (admins,
participants, `security.team`) see the panel or get an answer from its routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any

import python_multipart
from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect

from warroom.api import CtxDep, UowDep
from warroom.auth.logic import Principal, Role
from warroom.context import AppContext
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed, WarroomError
from warroom.escalation.bookkeeping import config_of
from warroom.hardening.middleware import stream_form
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.security import audit, evidence, regulatory, retention
from warroom.security.evidence import Verification
from warroom.security.logic import CustodyAction, may_add_evidence, may_read_evidence, people
from warroom.security.models import EvidenceItem, LegalHold
from warroom.security.schemas import BreachCreate, BreachRead, DraftRead, NotificationCreate
from warroom.security.store import EvidenceStore, PayloadTooLarge, Stored
from warroom.security.views import _record, evidence_store
from warroom.web.incident_page import INCIDENT_PANELS, act_on_incident, incident_context
from warroom.web.shell import (
    TEMPLATES,
    FormStr,
    WebUser,
    csrf_ok,
    current_user,
    forbidden_page,
    not_found_page,
    render_template,
    router,
    same_origin,
    to_login,
)

_FIELD_LIMIT = 4000  # bytes of a form field other than the file
_BAD_CSRF = "The request was refused (bad or missing CSRF token)."


@dataclass
class SecurityPanel:
    """What the incident page shows of the incident's evidence and breach: read (never
    written) on first use, and only for someone who may read evidence."""

    session: Session
    incident: Incident
    now: datetime
    verification: Verification | None = None

    @cached_property
    def _team(self) -> list[str]:
        config = config_of(self.session)
        return people(config, config.security.team)

    def _participants(self) -> set[str]:
        return {p.user for p in self.incident.participants}

    def allowed(self, who: Principal) -> bool:
        return may_read_evidence(who, participants=self._participants(), team=self._team)

    def may_add(self, who: Principal) -> bool:
        return may_add_evidence(who, participants=self._participants(), team=self._team)

    @cached_property
    def items(self) -> list[EvidenceItem]:
        return evidence.list_items(self.session, incident=self.incident)

    @cached_property
    def purged(self) -> set[int]:
        return set(evidence.purged(self.session, incident_id=self.incident.id))

    @cached_property
    def hold(self) -> LegalHold | None:
        return retention.get_hold(self.session, incident=self.incident)

    @cached_property
    def max_bytes(self) -> int:
        return config_of(self.session).security.evidence.max_bytes

    @cached_property
    def regimes(self) -> list[tuple[str, str]]:
        return [(k, r.title) for k, r in config_of(self.session).security.regimes.items()]

    @cached_property
    def breach(self) -> BreachRead | None:
        if regulatory.get_breach(self.session, incident=self.incident) is None:
            return None
        return regulatory.breach_read(self.session, incident=self.incident, now=self.now)

    @cached_property
    def drafts(self) -> list[DraftRead]:
        if self.breach is None:
            return []
        config = config_of(self.session)
        return [
            regulatory.draft(
                self.session,
                config=config,
                incident=self.incident,
                regime=c.regime,
                obligation=c.obligation,
            )
            for c in self.breach.clocks
            if c.notified_at is None
        ]


def security_panel(session: Session, incident: Incident, now: datetime) -> SecurityPanel:
    return SecurityPanel(session, incident, now)


def time_left(seconds: float) -> str:
    """`2d 03h 05m left` or `overdue by 4h 10m`."""
    whole = int(abs(seconds)) // 60
    days, rest = divmod(whole, 24 * 60)
    text = (
        f"{days}d {rest // 60:02d}h {rest % 60:02d}m" if days else f"{rest // 60}h {rest % 60:02d}m"
    )
    return f"{text} left" if seconds >= 0 else f"overdue by {text}"


def size_text(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return f"{size} bytes"


INCIDENT_PANELS["security"] = security_panel  # _security.html on the incident page
TEMPLATES.filters["time_left"] = time_left
TEMPLATES.filters["size"] = size_text
stream_form(r"/incidents/[^/]+/evidence")


# --- helpers ------------------------------------------------------------------------------


def _page(
    ctx: AppContext,
    user: WebUser,
    key: str,
    status: int,
    *,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    """The incident page with a message (after a form that does not redirect)."""
    with ctx.db.unit_of_work() as uow:
        incident = incidents.get(uow.session, key=key, viewer=user.principal)
        audit.record_read(uow, user.principal, incident, f"GET /incidents/{incident.key}")
        context = incident_context(ctx, uow, user, incident, notice=notice, error=error)
        return render_template("incident.html", status, **context)


def _admitted(
    request: Request, ctx: AppContext, form_csrf: str | None
) -> tuple[WebUser | None, Response | None]:
    """The caller, or the answer refusing them (login, bad origin or CSRF token)."""
    with ctx.db.unit_of_work() as uow:
        user = current_user(request, ctx, uow)
    if user is None:
        return None, to_login(request)
    if not same_origin(request, ctx) or (
        form_csrf is not None and not csrf_ok(request, user.token, form_csrf)
    ):
        return user, forbidden_page(request, user, _BAD_CSRF)
    return user, None


def _evidence_action(
    request: Request,
    ctx: AppContext,
    key: str,
    csrf_token: str,
    action: Callable[[Any, Incident, WebUser], Response],
) -> Response:
    """Run one evidence action for someone who may read it; errors show on the page."""
    user, refusal = _admitted(request, ctx, csrf_token)
    if refusal is not None or user is None:
        return refusal or to_login(request)
    with ctx.db.unit_of_work() as uow:
        try:
            incident = incidents.get(uow.session, key=key, viewer=user.principal, for_update=True)
        except NotFound:
            return not_found_page(request, user)
        try:
            evidence.check_access(incident, user.principal, ctx.config, write=False)
            return action(uow, incident, user)
        except WarroomError as exc:
            uow.rollback()
            error, status = exc.message, exc.status_code
    return _page(ctx, user, key, status, error=error)


# --- evidence -----------------------------------------------------------------------------


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str = "application/octet-stream"
    value: bytearray = field(default_factory=bytearray)


class _Upload:
    """A multipart body read as it arrives: small fields kept, the file sealed chunk by
    chunk into the locker. The CSRF token and the reason must come before the file (they
    do: browsers send fields in the form's order)."""

    def __init__(
        self, request: Request, user: WebUser, store: EvidenceStore, limit: int, boundary: bytes
    ) -> None:
        self.request, self.user, self.store, self.limit = request, user, store, limit
        self.fields: dict[str, str] = {}
        self.file: _Part | None = None
        self.intake: Any = None
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._events: list[tuple[str, bytes]] = []
        self.parser = python_multipart.MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: self._events.append(("begin", b"")),
                "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._events.append(("end", b"")),
                "on_header_field": lambda d, s, e: self._events.append(("hfield", d[s:e])),
                "on_header_value": lambda d, s, e: self._events.append(("hvalue", d[s:e])),
                "on_header_end": lambda: self._events.append(("hend", b"")),
                "on_headers_finished": lambda: self._events.append(("hdone", b"")),
            },
        )

    def _field(self, name: str) -> str:
        return self.fields.get(name, "")

    def _start_file(self) -> None:
        if not csrf_ok(self.request, self.user.token, self._field("csrf_token")):
            raise Forbidden(_BAD_CSRF)
        if not self._field("reason").strip():
            raise ValidationFailed("reason: say why this is evidence", field="reason")
        self.intake = self.store.intake(self.limit)

    def feed(self, chunk: bytes) -> None:
        self.parser.write(chunk)
        events, self._events = self._events, []
        for kind, data in events:
            part = self._part
            if kind == "begin":
                self._part = _Part()
            elif kind == "hfield":
                self._header_field += data
            elif kind == "hvalue":
                self._header_value += data
            elif kind == "hend":
                name = self._header_field.decode("latin-1").lower()
                part.headers[name] = self._header_value.decode("latin-1")
                self._header_field.clear()
                self._header_value.clear()
            elif kind == "hdone":
                _, options = parse_options_header(part.headers.get("content-disposition", ""))
                part.name = options.get(b"name", b"").decode("utf-8", "replace")
                raw_filename = options.get(b"filename")
                if raw_filename is not None and part.name == "file":
                    part.filename = raw_filename.decode("utf-8", "replace")
                    part.content_type = part.headers.get("content-type", "").strip()[:128]
                    if self.file is not None:
                        raise ValidationFailed("file: one file per upload", field="file")
                    self.file = part
                    self._start_file()
            elif kind == "data":
                if part is self.file:
                    self.intake.write(data)
                else:
                    part.value += data
                    if len(part.value) > _FIELD_LIMIT:
                        raise ValidationFailed(f"{part.name}: too long", field=part.name)
            elif kind == "end" and part is not self.file and part.name:
                value = part.value.decode("utf-8", "replace")
                if "\x00" in value:
                    raise ValidationFailed(
                        f"{part.name}: contains a NUL character", field=part.name
                    )
                self.fields[part.name] = value

    def finish(self) -> Stored:
        self.parser.finalize()
        if self.file is None or self.intake is None:
            raise ValidationFailed("file: choose a file to upload", field="file")
        if not self.file.filename:
            raise ValidationFailed("file: choose a file to upload", field="file")
        stored: Stored = self.intake.finish()
        return stored

    def abort(self) -> None:
        if self.intake is not None:
            self.intake.abort()


def _admit_writer(ctx: AppContext, user: WebUser, key: str) -> int:
    with ctx.db.unit_of_work() as uow:
        incident = incidents.get(uow.session, key=key, viewer=user.principal)
        evidence.check_access(incident, user.principal, ctx.config, write=True)
        return incident.id


@router.post("/incidents/{key}/evidence")
async def upload_evidence(key: str, request: Request) -> Response:
    """Add a file as evidence from the incident page, streamed into the locker."""
    ctx: AppContext = request.app.state.ctx
    user, refusal = await asyncio.to_thread(_admitted, request, ctx, None)
    if refusal is not None or user is None:
        return refusal or to_login(request)
    try:
        incident_id = await asyncio.to_thread(_admit_writer, ctx, user, key)
    except NotFound:
        return not_found_page(request, user)
    except Forbidden as exc:
        return await asyncio.to_thread(_page, ctx, user, key, 403, error=exc.message)
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    limit = ctx.config.security.evidence.max_bytes
    declared = request.headers.get("content-length", "")
    upload: _Upload | None = None
    try:
        if kind != b"multipart/form-data" or not boundary:
            raise ValidationFailed("body: send the form as multipart/form-data", field="body")
        if declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise PayloadTooLarge(
                f"evidence is limited to {limit} bytes (security.evidence.max_bytes)", field="file"
            )
        upload = _Upload(request, user, evidence_store(ctx), limit, boundary)
        async for chunk in request.stream():
            if chunk:
                upload.feed(chunk)
        stored = await asyncio.to_thread(upload.finish)
    except ClientDisconnect:
        if upload is not None:
            upload.abort()
        return Response(status_code=400)
    except (WarroomError, ValueError) as exc:
        if upload is not None:
            upload.abort()
        message = exc.message if isinstance(exc, WarroomError) else "body: not a multipart form"
        status = exc.status_code if isinstance(exc, WarroomError) else 400
        return await asyncio.to_thread(_page, ctx, user, key, status, error=message)
    except BaseException:
        if upload is not None:
            upload.abort()
        raise
    assert upload is not None and upload.file is not None
    name = (upload.fields.get("name", "").strip() or upload.file.filename or "evidence")[:255]
    item = await asyncio.to_thread(
        _record, ctx, user.principal, incident_id, stored,
        kind="file", name=name,
        media_type=upload.file.content_type or "application/octet-stream",
        reason=upload.fields.get("reason", "").strip()[:2000],
    )  # fmt: skip
    return RedirectResponse(f"/incidents/{key}#evidence-{item.id}", status_code=303)


@router.post("/incidents/{key}/evidence/{evidence_id}/download")
def download_evidence(
    key: str,
    evidence_id: int,
    request: Request,
    ctx: CtxDep,
    reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    """The content, decrypted as it streams; the download and its reason go on the custody
    chain first (as `GET …/evidence/{id}/content` does)."""

    def download(uow: Any, incident: Incident, user: WebUser) -> Response:
        if not reason.strip():
            raise ValidationFailed("reason: say why you download this evidence", field="reason")
        store = evidence_store(ctx)
        item = evidence.get_item(uow.session, incident=incident, evidence_id=evidence_id)
        if item.id in evidence.purged(uow.session, incident_id=incident.id):
            raise Conflict(f"E-{item.id} was purged; its record stays, its content is gone")
        evidence.record_custody(
            uow.session, incident=incident, action=CustodyAction.DOWNLOAD,
            actor=user.principal.actor, now=ctx.clock.now(), reason=reason.strip()[:2000],
            evidence_id=item.id,
        )  # fmt: skip
        uow.commit()
        address, name = item.address, item.name

        def chunks() -> Iterator[bytes]:
            yield from store.read(address)

        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "evidence"
        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(item.size),
                "X-Evidence-SHA256": item.sha256,
                "Content-Disposition": f'attachment; filename="{safe}"',
            },
        )

    return _evidence_action(request, ctx, key, csrf_token, download)


@router.post("/incidents/{key}/evidence-verification")
def verify_evidence(key: str, request: Request, ctx: CtxDep, csrf_token: FormStr = "") -> Response:
    """Check every file and the custody chain; the page shows what was found."""

    def verify(uow: Any, incident: Incident, user: WebUser) -> Response:
        result = evidence.verify(uow.session, store=evidence_store(ctx), incident=incident)
        evidence.record_custody(
            uow.session, incident=incident, action=CustodyAction.VERIFY,
            actor=user.principal.actor, now=ctx.clock.now(),
            reason="verification from the incident page",
            details={"ok": result.ok, "problems": len(result.problems())},
        )  # fmt: skip
        uow.commit()
        if result.ok:
            message = {
                "notice": f"Evidence verified: {len(result.items)} item(s) and "
                f"{result.entries} custody entries, nothing altered or removed."
            }
        else:
            message = {"error": "Evidence verification FAILED: " + "; ".join(result.problems())}
        context = incident_context(ctx, uow, user, incident, **message)
        context["security"].verification = result
        return render_template("incident.html", 200, **context)

    return _evidence_action(request, ctx, key, csrf_token, verify)


@router.post("/incidents/{key}/legal-hold")
def place_hold(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    def hold(incident: Incident, who: Principal) -> str:
        evidence.check_access(incident, who, ctx.config, write=True)
        if not reason.strip():
            raise ValidationFailed("reason: say why the evidence is held", field="reason")
        retention.hold(
            uow.session, incident=incident, actor=who.actor, reason=reason.strip()[:2000],
            now=ctx.clock.now(),
        )  # fmt: skip
        return "The evidence is under legal hold."

    return act_on_incident(request, ctx, uow, key, csrf_token, hold)


@router.post("/incidents/{key}/legal-hold/release")
def release_hold(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    def release(incident: Incident, who: Principal) -> str:
        if who.role is not Role.ADMIN:
            raise Forbidden("only admins release a legal hold")
        if not reason.strip():
            raise ValidationFailed("reason: say why the hold is released", field="reason")
        try:
            retention.release(
                uow.session, incident=incident, actor=who.actor, reason=reason.strip()[:2000],
                now=ctx.clock.now(),
            )  # fmt: skip
        except NotFound as exc:
            raise Conflict(exc.message) from None
        return "The legal hold is released."

    return act_on_incident(request, ctx, uow, key, csrf_token, release)


# --- breach -------------------------------------------------------------------------------


def _listing(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _number(text: str, name: str) -> int | None:
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    if not text.isdigit():
        raise ValidationFailed(f"{name}: a whole number", field=name)
    return int(text)


def _aware_at(text: str, now: datetime) -> datetime:
    if not text.strip():
        return now
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("aware_at: a date and time (UTC)", field="aware_at") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _first_error(exc: ValidationError) -> ValidationFailed:
    first = exc.errors()[0]
    name = ".".join(str(p) for p in first["loc"]) or "form"
    return ValidationFailed(f"{name}: {first['msg']}", field=name)


@router.post("/incidents/{key}/breach")
def mark_breach(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, aware_at: FormStr = "",
    regimes: Annotated[list[str] | None, Form()] = None, nature: FormStr = "",
    data_categories: FormStr = "", subject_categories: FormStr = "",
    approx_subjects: FormStr = "", approx_records: FormStr = "", consequences: FormStr = "",
    measures: FormStr = "", csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    def mark(incident: Incident, who: Principal) -> str:
        now = ctx.clock.now()
        try:
            data = BreachCreate(
                aware_at=_aware_at(aware_at, now),
                regimes=regimes or ["gdpr"],
                nature=nature.strip(),
                data_categories=_listing(data_categories),
                subject_categories=_listing(subject_categories),
                approx_subjects=_number(approx_subjects, "approx_subjects"),
                approx_records=_number(approx_records, "approx_records"),
                consequences=consequences.strip(),
                measures=measures.strip(),
            )
        except ValidationError as exc:
            raise _first_error(exc) from None
        regulatory.mark_breach(
            uow.session, config=ctx.config, incident=incident, data=data, actor=who, now=now
        )
        return "Marked as a personal-data breach: the regulatory clocks run."

    return act_on_incident(request, ctx, uow, key, csrf_token, mark)


@router.post("/incidents/{key}/breach/notifications")
def record_notification(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, regime: FormStr = "",
    obligation: FormStr = "", reference: FormStr = "", note: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:  # fmt: skip
    def notified(incident: Incident, who: Principal) -> str:
        try:
            data = NotificationCreate(
                regime=regime, obligation=obligation,
                reference=reference.strip() or None, note=note.strip() or None,
            )  # fmt: skip
        except ValidationError as exc:
            raise _first_error(exc) from None
        try:
            clock = regulatory.record_notification(
                uow.session, incident=incident, data=data, actor=who, now=ctx.clock.now()
            )
        except NotFound as exc:
            raise ValidationFailed(exc.message, field="obligation") from None
        return f"Recorded: {clock.recipient} notified."

    return act_on_incident(request, ctx, uow, key, csrf_token, notified)
