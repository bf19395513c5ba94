"""`/declare`: declare an incident from the browser, with the severity classifier inline.

The form asks seed 000's classifier questions (error rate, users affected, revenue per
hour, security, data loss, core feature); "Suggest severity" runs the same classifier as
`POST /api/v1/classify` and shows which rule decided and what the level requires. The
declaration goes through `incidents.service.declare`, as `POST /api/v1/incidents` does,
so paging starts in the same transaction. `?alert=ID` declares from an alert (it is then
attached to the new incident, as `POST /api/v1/alerts/{id}/declare` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from warroom.alerts import manual
from warroom.alerts import service as alerts
from warroom.alerts.models import Alert
from warroom.api import CtxDep, UowDep
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.incidents import service
from warroom.incidents.schemas import IncidentCreate
from warroom.severity.logic import Classification, ImpactMetrics, classify
from warroom.web.nav import active_item
from warroom.web.shell import (
    FormStr,
    WebUser,
    current_user,
    forbidden_page,
    form_caller,
    is_htmx,
    render_template,
    router,
    to_login,
)

FormList = Annotated[list[str], Form()]

#: The classifier's questions, in the order the form asks them.
QUESTIONS = (
    ("error_rate_percent", "Error rate (%)", "number"),
    ("affected_users_percent", "Users affected (%)", "number"),
    ("revenue_impact_per_hour", "Revenue lost per hour", "number"),
    ("is_security_incident", "A security incident", "check"),
    ("is_data_loss", "Data lost or corrupted", "check"),
    ("core_feature_affected", "A core feature is affected", "check"),
)


def guard(request: Request, ctx: AppContext, uow: UnitOfWork, csrf: str) -> WebUser | Response:
    """The signed-in responder behind a state-changing POST, or the answer refusing it."""
    return form_caller(request, ctx, uow, csrf, refusal="Your token may only read.")


@dataclass
class Answers:
    """What the form holds, kept as typed so that a refused form comes back as it was."""

    values: dict[str, str]
    services: list[str]

    def checked(self, name: str) -> bool:
        return self.values.get(name) == "1"


def _classification(ctx: AppContext, answers: Answers) -> tuple[Classification | None, str | None]:
    """Classify the answers; (None, None) when none were given, (None, error) when bad."""
    numbers: dict[str, Any] = {}
    given = False
    for name, label, kind in QUESTIONS:
        raw = answers.values.get(name, "").strip()
        if kind == "check":
            numbers[name] = raw == "1"
            given = given or raw == "1"
            continue
        if not raw:
            numbers[name] = 0.0
            continue
        given = True
        try:
            numbers[name] = float(raw.replace(",", ""))
        except ValueError:
            return None, f"{label}: not a number ({raw[:40]!r})"
    if not given:
        return None, None
    try:
        metrics = ImpactMetrics(**numbers)
    except ValueError as exc:
        return None, str(exc)
    config = ctx.config
    return (
        classify(
            metrics, thresholds=config.classifier, severities=config.severities, roles=config.roles
        ),
        None,
    )


def _form_context(
    ctx: AppContext,
    user: WebUser,
    answers: Answers,
    *,
    alert: Alert | None = None,
    error: str | None = None,
    classification: Classification | None = None,
    classify_error: str | None = None,
) -> dict[str, Any]:
    config = ctx.config
    return {
        "user": user,
        "nav_here": active_item("/declare"),
        "answers": answers,
        "questions": QUESTIONS,
        "severities": config.severities,
        "types": config.incident_types,
        "services": config.services,
        "users": config.users,
        "alert": alert,
        "error": error,
        "classification": classification,
        "classify_error": classify_error,
    }


def _alert(uow: UnitOfWork, user: WebUser, raw: str) -> Alert | None:
    if not raw.strip().isdigit() or len(raw.strip()) > 10:
        return None
    try:
        return alerts.get(uow.session, alert_id=int(raw), viewer=user.principal)
    except NotFound:
        return None


@router.get("/declare")
def declare_page(
    request: Request, ctx: CtxDep, uow: UowDep, alert: str = "", severity: str = ""
) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    if not user.can_act:
        return forbidden_page(request, user, "Your token may only read; a responder declares.")
    source = _alert(uow, user, alert) if alert else None
    values = {"commander": user.principal.user or "", "severity": severity}
    services: list[str] = []
    if source is not None:
        values["title"] = source.summary[:255]
        values["description"] = f"Declared from alert {source.id} ({source.dedup_key})."
        if not ctx.config.services or ctx.config.service(source.service):
            services = [source.service]
    return render_template(
        "declare.html", **_form_context(ctx, user, Answers(values, services), alert=source)
    )


def _answers(fields: dict[str, str], services: list[str]) -> Answers:
    return Answers({k: v[:20_000] for k, v in fields.items()}, [s[:64] for s in services][:50])


@router.post("/declare/classify")
def declare_classify(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    error_rate_percent: FormStr = "",
    affected_users_percent: FormStr = "",
    revenue_impact_per_hour: FormStr = "",
    is_security_incident: FormStr = "",
    is_data_loss: FormStr = "",
    core_feature_affected: FormStr = "",
    severity: FormStr = "",
    title: FormStr = "",
    type: FormStr = "",
    services: FormList = [],  # noqa: B006 - FastAPI copies defaults
    description: FormStr = "",
    commander: FormStr = "",
    restricted: FormStr = "",
    alert: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    """The classifier's answer as a fragment (and the severity select, suggestion chosen);
    without htmx, the whole form again as it was typed, with the answer."""
    user = form_caller(request, ctx, uow, csrf_token, role=None)
    if isinstance(user, Response):
        return user
    answers = _answers(
        {
            "error_rate_percent": error_rate_percent,
            "affected_users_percent": affected_users_percent,
            "revenue_impact_per_hour": revenue_impact_per_hour,
            "is_security_incident": is_security_incident,
            "is_data_loss": is_data_loss,
            "core_feature_affected": core_feature_affected,
            "severity": severity,
            "title": title,
            "type": type,
            "description": description,
            "commander": commander,
            "restricted": restricted,
        },
        services,
    )
    found, problem = _classification(ctx, answers)
    if found is not None:
        answers.values["severity"] = found.severity
    source = _alert(uow, user, alert) if alert else None
    context = _form_context(
        ctx, user, answers, alert=source, classification=found, classify_error=problem
    )
    if not is_htmx(request):
        return render_template("declare.html", 422 if problem else 200, **context)
    return render_template("_classify.html", oob=found is not None, **context)


@router.post("/declare")
def declare(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    title: FormStr = "",
    severity: FormStr = "",
    type: FormStr = "",
    services: FormList = [],  # noqa: B006 - FastAPI copies defaults
    description: FormStr = "",
    commander: FormStr = "",
    restricted: FormStr = "",
    alert: FormStr = "",
    error_rate_percent: FormStr = "",
    affected_users_percent: FormStr = "",
    revenue_impact_per_hour: FormStr = "",
    is_security_incident: FormStr = "",
    is_data_loss: FormStr = "",
    core_feature_affected: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    checked = guard(request, ctx, uow, csrf_token)
    if isinstance(checked, Response):
        return checked
    user = checked
    answers = _answers(
        {
            "title": title,
            "severity": severity,
            "type": type,
            "description": description,
            "commander": commander,
            "restricted": restricted,
            "error_rate_percent": error_rate_percent,
            "affected_users_percent": affected_users_percent,
            "revenue_impact_per_hour": revenue_impact_per_hour,
            "is_security_incident": is_security_incident,
            "is_data_loss": is_data_loss,
            "core_feature_affected": core_feature_affected,
        },
        services,
    )
    source = _alert(uow, user, alert) if alert else None
    if alert and source is None:
        missing = "That alert does not exist (or you may not see it)."
        return _refused(ctx, user, answers, None, missing)
    found, problem = _classification(ctx, answers)
    if problem:
        return _refused(ctx, user, answers, source, problem)
    impact: dict[str, Any] = {}
    if found is not None:
        for name in ("affected_users_percent", "revenue_impact_per_hour"):
            raw = answers.values.get(name, "").strip()
            if raw:
                impact[name] = float(raw.replace(",", ""))
        if answers.checked("is_data_loss"):
            impact["data_loss"] = True
    body: dict[str, Any] = {
        "title": title,
        "severity": severity.strip() or (found.severity if found else ""),
        "services": [s for s in answers.services if s.strip()],
        "description": description,
        "impact": impact,
    }
    if type.strip():
        body["type"] = type.strip()
    if commander.strip():
        body["commander"] = commander.strip()
    if restricted in ("0", "1"):
        body["restricted"] = restricted == "1"
    try:
        data = IncidentCreate.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "form"
        message = "a title is needed" if name == "title" else first["msg"]
        if name == "severity" and not body["severity"]:
            message = "choose a severity (or answer the questions and take the suggestion)"
        return _refused(ctx, user, answers, source, f"{name}: {message}")
    now = ctx.clock.now()
    try:
        if source is not None:
            incident = manual.declare_from(
                uow.session,
                config=ctx.config,
                alert=source,
                data=data,
                actor=user.principal,
                now=now,
            )
        else:
            incident = service.declare(
                uow.session, config=ctx.config, data=data, actor=user.principal, now=now
            )
    except (ValidationFailed, Conflict, Forbidden) as exc:
        uow.rollback()
        return _refused(ctx, user, answers, source, exc.message)
    uow.commit()
    return RedirectResponse(f"/incidents/{incident.key}", status_code=303)


def _refused(
    ctx: AppContext, user: WebUser, answers: Answers, source: Alert | None, message: str
) -> Response:
    context = _form_context(ctx, user, answers, alert=source, error=message)
    return render_template("declare.html", 422, **context)
