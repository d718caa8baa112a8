"""Error handlers: one JSON shape for the API, a themed page elsewhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import Quart, redirect, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from streamforge.errors import (
    AuthenticationFailed,
    Forbidden,
    InvalidKey,
    InvalidRequest,
    NotFound,
    StreamForgeError,
)

STATUS = {
    NotFound: 404,
    InvalidRequest: 400,
    InvalidKey: 404,
    AuthenticationFailed: 401,
    Forbidden: 403,
}
CODES = {404: "not_found", 400: "invalid_request", 401: "unauthorized", 403: "forbidden"}


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, **extra}}


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/media/"))


async def _respond(status: int, code: str, message: str, **extra: Any) -> Any:
    if _wants_json():
        return error_body(status, code, message, **extra), status
    if status == 401 and request.method == "GET":
        # a page that needs an account: log in, then come back here
        return redirect(f"/login?{urlencode({'next': request.full_path.rstrip('?')})}", 303)
    from streamforge.web.pages import render_page

    html = await render_page("error.html", status=status, message=message)
    return html, status


def register(app: Quart) -> None:
    @app.errorhandler(RequestSchemaValidationError)
    async def _invalid(exc: RequestSchemaValidationError) -> Any:
        detail = getattr(exc.validation_error, "errors", None)
        problems = detail() if callable(detail) else str(exc.validation_error)
        if isinstance(problems, list):
            problems = [
                {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg")}
                for e in problems
            ]
        return await _respond(
            400, "invalid_request", "the request body is invalid", details=problems
        )

    @app.errorhandler(StreamForgeError)
    async def _domain(exc: StreamForgeError) -> Any:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
        code = CODES.get(status, "server_error")
        if status == 500:
            app.logger.error("unhandled %s: %s", type(exc).__name__, exc)
        return await _respond(status, code, str(exc))

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        return await _respond(status, code, exc.description or exc.name or "error")
