"""Registration: the ``/register`` page, and the invite API for administrators.

``[auth] registration`` decides: ``open`` lets anyone make an account (of
``[auth] registration_role``, or of an invite's role when the form carries one);
``invite`` needs a single-use invite code (``/register?invite=<code>`` is the link an
admin hands out); ``closed`` answers ``/register`` with 404 and a page saying
registration is closed. Attempts are counted per client address like failed logins.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint, Quart, Response, redirect, request
from quart_schema import validate_request, validate_response

from streamforge.auth import invites, throttle
from streamforge.db.models import Role
from streamforge.errors import Forbidden, InvalidRequest, NotFound
from streamforge.web import access
from streamforge.web.auth import client_address, current_account, log_in, page, same_origin
from streamforge.web.state import app_state, runtime

blueprint = Blueprint("registration", __name__)


def install(app: Quart) -> None:
    """Serve ``/register`` and ``/api/v1/invites``; tell templates the registration mode."""
    app.register_blueprint(blueprint)
    app.jinja_env.globals["registration"] = app.extensions["streamforge"].settings.auth.registration


def invite_url(code: str) -> str:
    """The link that opens the registration form with ``code`` filled in."""
    base = runtime().settings.public_url or request.host_url.rstrip("/")
    return f"{base}/register?invite={code}"


def _mode() -> str:
    mode: str = app_state().settings.auth.registration
    if mode == "closed":
        raise NotFound("registration is closed on this server: ask an administrator for an account")
    return mode


async def _form(status: int = 200, **context: Any) -> tuple[str, int]:
    mode = _mode()
    default_role = app_state().settings.auth.registration_role
    return await page("register.html", status, mode=mode, default_role=default_role, **context)


@blueprint.get("/register")
async def register_form() -> Any:
    _mode()
    if await current_account() is not None:
        return redirect("/account", 303)
    code = request.args.get("invite", "").strip()[:100]
    if not code:
        return await _form(invite="")
    try:
        role = await invites.invite_role(runtime().db, code)
    except InvalidRequest as exc:
        return await _form(400, invite=code, error=str(exc))
    return await _form(invite=code, invite_role=str(role))


@blueprint.post("/register")
async def register() -> Any:
    mode = _mode()
    if not same_origin():
        raise Forbidden("registration refused: the form was sent from another site")
    rt = runtime()
    auth = rt.settings.auth
    form = await request.form
    name, code = form.get("name", "")[:64], form.get("invite", "").strip()[:100]
    limits = [throttle.Limit(f"register:{client_address()}", auth.register_attempts_per_address)]
    wait = await throttle.wait_needed(rt.db, limits, auth.login_window)
    if wait > 0:
        message = f"too many registrations from here: try again in {math.ceil(wait / 60)} minute(s)"
        html, status = await _form(429, error=message, name=name, invite=code)
        return Response(html, status, headers={"Retry-After": str(math.ceil(wait))})
    await throttle.record_failure(rt.db, limits, auth.login_window)  # every attempt counts
    try:
        if mode == "invite" and not code:
            raise InvalidRequest("registration here needs an invite: ask an administrator")
        if form.get("password", "") != form.get("password2", ""):
            raise InvalidRequest("the two passwords differ")
        account = await invites.register(
            rt.db,
            name,
            form.get("password", ""),
            role=Role(auth.registration_role),
            invite=code or None,
        )
    except InvalidRequest as exc:
        return await _form(400, error=str(exc), name=name, invite=code)
    return await log_in(account, "/")


# -- the invite API (administrators) --------------------------------------------------------


class CreateInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role = Field(Role.VIEWER, description="viewer or uploader")
    days: float = Field(invites.DEFAULT_DAYS, gt=0, le=invites.MAX_DAYS)


class InviteOut(BaseModel):
    id: str
    role: Role
    state: str = Field(description="open, used, revoked or expired")
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    used_by: str | None
    used_at: datetime | None


class NewInviteOut(BaseModel):
    id: str
    role: Role
    expires_at: datetime
    code: str = Field(description="shown this once; only its hash is kept")
    url: str = Field(description="the registration link with the code in it")


class InviteList(BaseModel):
    items: list[InviteOut]


@blueprint.get("/api/v1/invites")
@validate_response(InviteList)
async def list_invites() -> InviteList:
    """Every invite, newest first (never the codes). Administrators only."""
    await access.require_admin()
    rows = await invites.list_invites(runtime().db)
    return InviteList(
        items=[
            InviteOut(
                id=i.id,
                role=i.role,
                state=i.state,
                created_by=i.created_by,
                created_at=i.created_at,
                expires_at=i.expires_at,
                used_by=i.used_by,
                used_at=i.used_at,
            )
            for i in rows
        ]
    )


@blueprint.post("/api/v1/invites")
@validate_request(CreateInvite)
@validate_response(NewInviteOut, 201)
async def create_invite(data: CreateInvite) -> tuple[NewInviteOut, int]:
    """Make a single-use invite; its code and link are in this answer only."""
    admin = await access.require_admin()
    made = await invites.create_invite(runtime().db, data.role, days=data.days, created_by=admin.id)
    out = NewInviteOut(
        id=made.id,
        role=made.role,
        expires_at=made.expires_at,
        code=made.code,
        url=invite_url(made.code),
    )
    return out, 201


@blueprint.delete("/api/v1/invites/<invite_id>")
async def revoke_invite(invite_id: str) -> tuple[str, int]:
    """Revoke an invite that has not been used."""
    await access.require_admin()
    await invites.revoke_invite(runtime().db, invite_id)
    return "", 204
