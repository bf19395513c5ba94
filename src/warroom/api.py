"""FastAPI dependencies shared by every router: context, unit of work, caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from warroom.auth import service as tokens
from warroom.auth.logic import Principal, Role, bind_actor
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Forbidden, Unauthorized

# Ids (and offsets) are 32-bit in the database: a larger number is a 422 naming the
# parameter, never a database error. Every integer id in a path or a filter uses these.
INT_MAX = 2**31 - 1
IdPath = Annotated[int, Path(ge=1, le=INT_MAX)]
IdQuery = Annotated[int | None, Query(ge=1, le=INT_MAX)]
OffsetQuery = Annotated[int, Query(ge=0, le=INT_MAX)]

# Declares the scheme in the OpenAPI document (and on each protected operation); the
# token itself is read by `bearer_token`.
BEARER = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer wr_…`")


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def get_uow(ctx: CtxDep) -> Iterator[UnitOfWork]:
    with ctx.db.unit_of_work() as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def get_read_uow(ctx: CtxDep) -> Iterator[UnitOfWork]:
    with ctx.db.unit_of_work(read_only=True) as uow:
        yield uow


#: For a long read-only request (metrics, reports): on SQLite it does not hold the write
#: lock while it runs, and a write in it is refused (`warroom.db`). Use it with the
#: `Read*` principals below, so that authentication shares the same unit of work.
ReadUowDep = Annotated[UnitOfWork, Depends(get_read_uow)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(ctx: AppContext, uow: UnitOfWork, token: str | None) -> Principal:
    if token is None:
        raise Unauthorized("missing bearer token")
    principal = tokens.authenticate(uow.session, token=token, now=ctx.clock.now())
    if principal is None:
        raise Unauthorized("invalid or revoked token")
    if uow.session.dirty:
        # last_used_at moved (at most every few minutes): stamp it in its own transaction so
        # that a read-only request stays read-only.
        uow.session.rollback()
        with ctx.db.unit_of_work() as stamp:
            tokens.authenticate(stamp.session, token=token, now=ctx.clock.now())
            stamp.commit()
    return principal


def require(role: Role, *, read_only: bool = False) -> Callable[..., Principal]:
    unit = Depends(get_read_uow if read_only else get_uow)

    def dependency(
        request: Request,
        ctx: CtxDep,
        uow: UnitOfWork = unit,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
    ) -> Principal:
        principal = authenticate(ctx, uow, bearer_token(request))
        bind_actor(uow.session, principal, f"{request.method} {request.url.path}")
        if not principal.has(role):
            raise Forbidden(
                f"this needs the {role.value} role; the token has {principal.role.value}"
            )
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Responder = Annotated[Principal, Depends(require(Role.RESPONDER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
ReadViewer = Annotated[Principal, Depends(require(Role.VIEWER, read_only=True))]
