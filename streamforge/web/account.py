"""The account page (``/account``): change your password, make and revoke your own API
tokens, see your upload quota; administrators also make and revoke invites there. And the
same token actions as JSON under ``/api/v1/me/tokens`` for scripts.

The page's forms are plain HTML posts carrying the session's CSRF token (checked for every
session request by :mod:`streamforge.web.auth`), so the page needs no script.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint, redirect, request
from quart_schema import validate_request, validate_response
from werkzeug.wrappers import Response as BaseResponse

from streamforge.auth import accounts, invites, policy, quota, throttle, tokens
from streamforge.auth.accounts import Account
from streamforge.db.models import Role
from streamforge.errors import AuthenticationFailed, Forbidden, InvalidRequest, NotFound
from streamforge.web.auth import current_login, log_in, page, require_account
from streamforge.web.registration import invite_url
from streamforge.web.state import runtime

blueprint = Blueprint("account", __name__)

#: ``/account?done=<key>``: what the last form did, said on the page it lands on.
DONE = {
    "password": "Your password was changed; every other session of yours was logged out.",
    "token-revoked": "The API token was revoked.",
    "invite-revoked": "The invite was revoked.",
}


async def _account_page(status: int = 200, **context: Any) -> tuple[str, int]:
    rt = runtime()
    account = await require_account()
    admin = policy.is_admin(account)
    return await page(
        "account.html",
        status,
        usage=await quota.usage_of(rt.db, rt.settings, account.id),
        tokens=await tokens.list_tokens(rt.db, account.name),
        invites=await invites.list_invites(rt.db) if admin else None,
        invite_roles=[str(r) for r in invites.ROLES],
        message=DONE.get(request.args.get("done", "")),
        **context,
    )


async def _own_token(account: Account, token_id: str) -> None:
    """Refuse (404) a token id that is not one of ``account``'s."""
    mine = await tokens.list_tokens(runtime().db, account.name)
    if token_id not in {t.id for t in mine}:
        raise NotFound(f"no API token {token_id!r} of yours")


@blueprint.get("/account")
async def account_page() -> tuple[str, int]:
    return await _account_page()


@blueprint.post("/account/password")
async def change_password() -> Any:
    """Current password, then the new one twice. Other sessions end; this one goes on."""
    rt = runtime()
    account = await require_account()
    if await current_login() is None:
        raise Forbidden("change your password from a logged-in browser, not with an API token")
    form = await request.form
    auth = rt.settings.auth
    limits = [throttle.Limit(f"account:{account.name.lower()}", auth.login_attempts_per_account)]
    try:
        if await throttle.wait_needed(rt.db, limits, auth.login_window) > 0:
            raise InvalidRequest("too many wrong passwords: try again later")
        try:
            await accounts.authenticate(rt.db, account.name, form.get("current", ""))
        except AuthenticationFailed:
            await throttle.record_failure(rt.db, limits, auth.login_window)
            raise InvalidRequest("the current password is wrong") from None
        if form.get("password", "") != form.get("password2", ""):
            raise InvalidRequest("the two new passwords differ")
        await accounts.set_password(rt.db, account.name, form.get("password", ""))
    except InvalidRequest as exc:
        return await _account_page(400, error=str(exc))
    return await log_in(account, "/account?done=password")


@blueprint.post("/account/tokens")
async def create_token_form() -> tuple[str, int]:
    """Make an API token; the page shows it this once."""
    account = await require_account()
    label = (await request.form).get("label", "").strip()
    made = await tokens.create_token(runtime().db, account.name, label)
    return await _account_page(201, new_token=made)


@blueprint.post("/account/tokens/<token_id>/revoke")
async def revoke_token_form(token_id: str) -> BaseResponse:
    account = await require_account()
    await _own_token(account, token_id)
    await tokens.revoke_token(runtime().db, token_id)
    return redirect("/account?done=token-revoked", 303)


async def _require_admin() -> Account:
    account = await require_account()
    if not policy.is_admin(account):
        raise Forbidden("only an administrator may make or revoke invites")
    return account


@blueprint.post("/account/invites")
async def create_invite_form() -> tuple[str, int]:
    """Make an invite (administrators); the page shows its link this once."""
    admin = await _require_admin()
    form = await request.form
    try:
        role = Role(form.get("role", "viewer"))
        days = float(form.get("days", invites.DEFAULT_DAYS))
        made = await invites.create_invite(runtime().db, role, days=days, created_by=admin.id)
    except ValueError:
        return await _account_page(400, error="role must be viewer or uploader, days a number")
    except InvalidRequest as exc:
        return await _account_page(400, error=str(exc))
    return await _account_page(201, new_invite=made, new_invite_url=invite_url(made.code))


@blueprint.post("/account/invites/<invite_id>/revoke")
async def revoke_invite_form(invite_id: str) -> BaseResponse:
    await _require_admin()
    await invites.revoke_invite(runtime().db, invite_id)
    return redirect("/account?done=invite-revoked", 303)


# -- JSON: your own tokens --------------------------------------------------------------------


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=100, description="what the token is for")


class TokenOut(BaseModel):
    id: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(BaseModel):
    id: str
    label: str
    token: str = Field(description="shown this once; only its hash is kept")


class TokenList(BaseModel):
    items: list[TokenOut]


@blueprint.get("/api/v1/me/tokens")
@validate_response(TokenList)
async def my_tokens() -> TokenList:
    """Your API tokens, oldest first (never the secrets)."""
    account = await require_account()
    rows = await tokens.list_tokens(runtime().db, account.name)
    return TokenList(
        items=[
            TokenOut(
                id=t.id,
                label=t.label,
                created_at=t.created_at,
                last_used_at=t.last_used_at,
                revoked_at=t.revoked_at,
            )
            for t in rows
        ]
    )


@blueprint.post("/api/v1/me/tokens")
@validate_request(CreateToken)
@validate_response(NewTokenOut, 201)
async def create_my_token(data: CreateToken) -> tuple[NewTokenOut, int]:
    """Make an API token of yours; the token is in this answer only."""
    account = await require_account()
    made = await tokens.create_token(runtime().db, account.name, data.label.strip())
    return NewTokenOut(id=made.id, label=made.label, token=made.token), 201


@blueprint.delete("/api/v1/me/tokens/<token_id>")
async def revoke_my_token(token_id: str) -> tuple[str, int]:
    """Revoke one of your API tokens (404 for anyone else's)."""
    account = await require_account()
    await _own_token(account, token_id)
    await tokens.revoke_token(runtime().db, token_id)
    return "", 204
