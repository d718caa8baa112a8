"""Who is asking: API tokens and login sessions on requests; CSRF; the login, logout and
first-run setup pages.

A request's identity is resolved lazily (:func:`current_account`), once, and only by
routes that need it: a public video's segments never touch the sessions table. A request
that authenticates with a session cookie and changes state must carry the session's CSRF
token (``X-CSRF-Token`` header, or a ``csrf_token`` form field); one that carries an API
token (``Authorization: Bearer``) is not exposed to CSRF and needs none.
"""

from __future__ import annotations

import math
from typing import Any

from quart import (
    Blueprint,
    Quart,
    Response,
    g,
    has_websocket_context,
    redirect,
    request,
    websocket,
)
from werkzeug.wrappers import Response as BaseResponse

from streamforge.auth import accounts, quota, sessions, throttle
from streamforge.auth.accounts import Account
from streamforge.auth.secret import load_secret_key
from streamforge.auth.tokens import authenticate_token
from streamforge.db.models import Role
from streamforge.errors import AuthenticationFailed, Forbidden, InvalidRequest, NotFound
from streamforge.web.state import app_state, runtime

blueprint = Blueprint("auth", __name__)

COOKIE = "sf_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def install(app: Quart) -> None:
    app.register_blueprint(blueprint)
    app.before_request(_check_csrf)
    app.context_processor(_template_context)


def site_key() -> bytes:
    state = app_state()
    if state.site_key is None:
        state.site_key = load_secret_key(state.settings)
    return state.site_key


def _incoming() -> Any:
    """The HTTP request, or the WebSocket handshake, being answered."""
    return websocket if has_websocket_context() else request


async def current_login() -> sessions.Login | None:
    """The session the request's cookie stands for (None: no cookie, or not a live one)."""
    if "sf_login" not in g:
        g.sf_login = await sessions.resolve_session(
            runtime().db, _incoming().cookies.get(COOKIE), site_key()
        )
    login: sessions.Login | None = g.sf_login
    return login


async def current_account() -> Account | None:
    """Who the request acts as: a Bearer token's user, the session's user, or nobody.

    A Bearer token that is wrong is an error (401), not an anonymous request: a script
    with a revoked token should hear about it.
    """
    if "sf_account" not in g:
        header = _incoming().headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer":
            g.sf_account = await authenticate_token(runtime().db, credential.strip())
        else:
            login = await current_login()
            g.sf_account = login.account if login else None
    account: Account | None = g.sf_account
    return account


async def require_account() -> Account:
    account = await current_account()
    if account is None:
        raise AuthenticationFailed("log in first (or send an API token)")
    return account


def _uses_bearer() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


async def _check_csrf() -> None:
    if request.method in SAFE_METHODS or _uses_bearer() or COOKIE not in request.cookies:
        return
    login = await current_login()
    if login is None:
        return  # an unknown cookie carries no authority to abuse
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        presented = (await request.form).get(CSRF_FIELD)
    if not sessions.csrf_ok(login, presented):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


async def _template_context() -> dict[str, Any]:
    login = await current_login()
    try:
        account = await current_account()
    except AuthenticationFailed:  # a bad API token: the page renders as for nobody
        account = None
    return {"current_user": account, "csrf_token": login.csrf_token if login else ""}


@blueprint.get("/api/v1/me")
async def me() -> dict[str, Any]:
    """Who the request acts as (401 when nobody), and its upload quota: ``used`` bytes,
    ``limit`` and ``available`` (both null when unlimited)."""
    account = await require_account()
    rt = runtime()
    usage = await quota.usage_of(rt.db, rt.settings, account.id)
    return {
        "id": account.id,
        "name": account.name,
        "role": str(account.role),
        "quota": usage.as_dict(),
    }


# -- pages ------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only, never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def client_address() -> str:
    return request.remote_addr or "unknown"


def same_origin() -> bool:
    """A login form posted from another site (login CSRF) is refused.

    Browsers say where a request comes from in ``Sec-Fetch-Site``. ``Origin`` is the
    fallback for those that do not; it cannot come first, because under our
    ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` with our own forms.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


def _set_cookie(response: BaseResponse, value: str) -> None:
    settings = app_state().settings
    response.set_cookie(
        COOKIE,
        value,
        max_age=math.floor(settings.auth.session_days * 86400),
        httponly=True,
        samesite="Lax",
        secure=request.scheme == "https" or settings.public_url.startswith("https://"),
        path="/",
    )


async def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    from streamforge.web.pages import render_page

    return await render_page(template, **context), status


async def log_in(account: Account, target: str) -> BaseResponse:
    rt = runtime()
    old = await current_login()
    if old is not None:  # a session planted before login is worth nothing after it
        await sessions.end_session(rt.db, old.session_id)
    cookie = await sessions.start_session(rt.db, account, days=rt.settings.auth.session_days)
    response = redirect(_safe_next(target), 303)
    _set_cookie(response, cookie)
    return response


@blueprint.get("/login")
async def login_form() -> Any:
    if not await accounts.has_admin(runtime().db):
        return redirect("/setup", 303)
    return await page("login.html", next=_safe_next(request.args.get("next")))


@blueprint.post("/login")
async def login() -> Any:
    rt = runtime()
    form = await request.form
    name = form.get("name", "")[:64]
    target = _safe_next(form.get("next"))
    if not same_origin():
        raise Forbidden("login refused: the form was sent from another site")
    auth = rt.settings.auth
    limits = [
        throttle.Limit(f"account:{name.lower()}", auth.login_attempts_per_account),
        throttle.Limit(f"address:{client_address()}", auth.login_attempts_per_address),
    ]
    wait = await throttle.wait_needed(rt.db, limits, auth.login_window)
    if wait > 0:
        minutes = math.ceil(wait / 60)
        message = f"too many failed logins: try again in {minutes} minute(s)"
        html, status = await page("login.html", 429, error=message, name=name, next=target)
        return Response(html, status, headers={"Retry-After": str(math.ceil(wait))})
    try:
        account = await accounts.authenticate(rt.db, name, form.get("password", ""))
    except AuthenticationFailed as exc:
        await throttle.record_failure(rt.db, limits, auth.login_window)
        return await page("login.html", 401, error=str(exc), name=name, next=target)
    await throttle.forget(rt.db, limits[0].key)
    return await log_in(account, target)


@blueprint.post("/logout")
async def logout() -> BaseResponse:
    login = await current_login()
    if login is not None:
        await sessions.end_session(runtime().db, login.session_id)
    response = redirect("/", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


@blueprint.route("/setup", methods=["GET", "POST"])
async def setup() -> Any:
    """First run: make the first admin. Gone (404) as soon as an admin exists."""
    rt = runtime()
    if await accounts.has_admin(rt.db):
        raise NotFound("setup is done: an admin exists (log in instead)")
    if request.method == "GET":
        return await page("setup.html")
    if not same_origin():
        raise Forbidden("setup refused: the form was sent from another site")
    form = await request.form
    name, password = form.get("name", ""), form.get("password", "")
    try:
        if password != form.get("password2", ""):
            raise InvalidRequest("the two passwords differ")
        account = await accounts.create_user(rt.db, name, password, Role.ADMIN, first_admin=True)
    except InvalidRequest as exc:
        return await page("setup.html", 400, error=str(exc), name=name[:64])
    return await log_in(account, "/")
