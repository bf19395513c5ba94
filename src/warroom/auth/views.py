"""Token routes (admin only): `/api/v1/tokens`."""

from __future__ import annotations

from fastapi import APIRouter

from warroom.api import Admin, CtxDep, IdPath, UowDep, Viewer
from warroom.auth import service
from warroom.auth.schemas import TokenCreate, TokenCreated, TokenRead
from warroom.errors import ValidationFailed

router = APIRouter(prefix="/api/v1", tags=["tokens"])


@router.get("/whoami")
def whoami(who: Viewer) -> dict[str, str | None]:
    """The caller as the server sees it."""
    return {"name": who.name, "role": who.role.value, "user": who.user}


@router.post("/tokens", status_code=201, response_model=TokenCreated)
def create_token(data: TokenCreate, ctx: CtxDep, uow: UowDep, who: Admin) -> TokenCreated:
    """Create a token. The answer is the only time its value is shown."""
    if data.user is not None and ctx.config.users and ctx.config.user(data.user) is None:
        raise ValidationFailed(f"unknown user {data.user!r}", field="user")
    row, plaintext = service.create(
        uow.session,
        name=data.name,
        role=data.role,
        user=data.user,
        now=ctx.clock.now(),
        expires_at=data.expires_at,
    )
    uow.commit()
    return TokenCreated(**TokenRead.model_validate(row).model_dump(), token=plaintext)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(uow: UowDep, who: Admin) -> list[TokenRead]:
    return [TokenRead.model_validate(t) for t in service.list_tokens(uow.session)]


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: IdPath, ctx: CtxDep, uow: UowDep, who: Admin) -> TokenRead:
    row = service.revoke(uow.session, token_id=token_id, now=ctx.clock.now())
    uow.commit()
    return TokenRead.model_validate(row)
