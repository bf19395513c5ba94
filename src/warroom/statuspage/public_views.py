"""Public subscription routes: `/status/subscriptions` (no login, rate-limited).

The only public status routes that reach the database. Each client address may subscribe
a few times a minute and follow confirmation links a few dozen times; beyond that it gets
429 with Retry-After.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from warroom.api import CtxDep, UowDep
from warroom.errors import ValidationFailed
from warroom.statuspage import subscriptions
from warroom.statuspage.render import render_message

router = APIRouter(prefix="/status/subscriptions", include_in_schema=False)

MAX_BODY = 4_096
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class RateLimit:
    """At most `limit` requests per client address within `window` seconds (in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """0 when the request may go ahead (and count it); else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:  # forget idle clients; memory stays bounded
                self._seen = {
                    k: v for k, v in self._seen.items() if v and v[-1] > now - self.window
                }
            hits = self._seen.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return 0.0


def _limits(request: Request) -> dict[str, RateLimit]:
    """The application's rate limits (one set per app, so each server counts its own)."""
    state = request.app.state
    limits: dict[str, RateLimit] | None = getattr(state, "status_limits", None)
    if limits is None:
        limits = {"subscribe": RateLimit(limit=5, window=60.0), "link": RateLimit(30, 60.0)}
        state.status_limits = limits
    return limits


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limited(kind: str, request: Request) -> Response | None:
    wait = _limits(request)[kind].retry_after(_client(request))
    if wait <= 0:
        return None
    seconds = str(max(1, int(wait + 0.999)))
    return JSONResponse(
        {"error": {"code": "too_many_requests", "message": "too many requests; try later",
                   "details": {"retry_after": int(seconds)}}},
        status_code=429,
        headers={"Retry-After": seconds, **NO_STORE},
    )  # fmt: skip


async def _fields(request: Request) -> tuple[dict[str, Any], bool]:
    """The submitted fields, from JSON or from the page's HTML form; and whether HTML."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValidationFailed("body: too large", field="body")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str) and v.strip()}, True
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ValidationFailed("body: not JSON", field="body") from None
    if not isinstance(data, dict):
        raise ValidationFailed("body: a JSON object is needed", field="body")
    return data, False


@router.post("")
async def subscribe(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    """Subscribe `{email}` or `{webhook_url}`: a confirmation is sent (double opt-in)."""
    if (limited := _limited("subscribe", request)) is not None:
        return limited
    data, html = await _fields(request)
    unknown = sorted(set(data) - {"email", "webhook_url"})
    if unknown:
        raise ValidationFailed(f"{unknown[0]}: unknown field", field=unknown[0])
    email, webhook = data.get("email"), data.get("webhook_url")
    if (email is None) == (webhook is None):
        raise ValidationFailed("email: give an email or a webhook_url (one)", field="email")
    if email is not None:
        if not isinstance(email, str):
            raise ValidationFailed("email: a string is needed", field="email")
        kind, address = subscriptions.EMAIL, subscriptions.check_email(email)
    else:
        if not isinstance(webhook, str):
            raise ValidationFailed("webhook_url: a string is needed", field="webhook_url")
        kind = subscriptions.WEBHOOK
        address = subscriptions.check_webhook_url(
            webhook, allow_private=ctx.config.status_page.allow_private_webhooks
        )
    subscriptions.subscribe(uow.session, kind=kind, address=address, now=ctx.clock.now())
    uow.commit()
    ctx.wakeups.set()  # wake the engine: the confirmation leaves at once
    message = "Check your inbox: we sent a link to confirm the subscription."
    if kind == subscriptions.WEBHOOK:
        message = "We sent the confirmation link to the webhook."
    if html:
        return HTMLResponse(
            render_message(ctx.config.status_page.name, "Almost there", message),
            status_code=202,
            headers=NO_STORE,
        )
    return JSONResponse(
        {"status": "pending", "message": message}, status_code=202, headers=NO_STORE
    )


def _link_page(ctx: CtxDep, title: str, text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        render_message(ctx.config.status_page.name, title, text),
        status_code=status,
        headers=NO_STORE,
    )


@router.get("/confirm/{token}")
def confirm(token: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    """Confirm a subscription from the link in the confirmation."""
    if (limited := _limited("link", request)) is not None:
        return limited
    found = subscriptions.confirm(uow.session, token=token, now=ctx.clock.now())
    if found is None:
        return _link_page(ctx, "Link not valid", "This confirmation link is not valid.", 404)
    uow.commit()
    return _link_page(ctx, "Subscribed", "You will receive an update for every public change.")


@router.get("/unsubscribe/{token}")
def unsubscribe(token: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    """Unsubscribe from the link in every message."""
    if (limited := _limited("link", request)) is not None:
        return limited
    found = subscriptions.unsubscribe(uow.session, token=token, now=ctx.clock.now())
    if found is None:
        return _link_page(ctx, "Link not valid", "This unsubscribe link is not valid.", 404)
    uow.commit()
    return _link_page(ctx, "Unsubscribed", "You will not receive any more updates.")


# One-click unsubscribe (RFC 8058) posts to the same link.
router.add_api_route("/unsubscribe/{token}", unsubscribe, methods=["POST"])
