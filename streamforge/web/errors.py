"""Error handlers: one JSON shape for the API, a themed page elsewhere."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import Quart, has_request_context, redirect, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from streamforge.errors import (
    AuthenticationFailed,
    FileTooLarge,
    Forbidden,
    InvalidKey,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    StreamForgeError,
)

#: Domain errors as HTTP: status and code (the first class that matches wins).
STATUS: dict[type[StreamForgeError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    FileTooLarge: (413, "upload_too_large"),
    InvalidRequest: (400, "invalid_request"),
    InvalidKey: (404, "not_found"),
    AuthenticationFailed: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    QuotaExceeded: (413, "quota_exceeded"),
}


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
        status, code = next(
            (known for cls, known in STATUS.items() if isinstance(exc, cls)), (500, "server_error")
        )
        if status == 500:
            app.logger.error("unhandled %s: %s", type(exc).__name__, exc)
        if isinstance(exc, QuotaExceeded):
            amounts = {"used": exc.used, "quota": exc.quota, "requested": exc.requested}
            return await _respond(status, code, str(exc), **amounts)
        return await _respond(status, code, str(exc))

    @app.errorhandler(HTTPException)
    async def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if isinstance(exc, RequestEntityTooLarge):
            # Quart raises it bare, with werkzeug's vague words: say what the limit is
            limit = app.config["MAX_CONTENT_LENGTH"]
            message = (
                f"the request body is larger than {limit} bytes, the most this server takes "
                "here ([server] max_request_bytes; uploads go to /api/v1/uploads)"
            )
            return await _respond(413, "request_too_large", message)
        stock = exc.description == type(exc).description  # werkzeug's vague words
        if type(exc) is BadRequest and stock and request.is_json:
            # (what Quart raises for a JSON body it cannot parse)
            return await _respond(400, "invalid_request", "the request body is not valid JSON")
        code = (exc.name or "error").lower().replace(" ", "_")
        return await _respond(status, code, exc.description or exc.name or "error")

    @app.errorhandler(UnicodeDecodeError)
    async def _not_utf8(exc: UnicodeDecodeError) -> Any:
        # Quart decodes a JSON body strictly and lets the error out (a 500) when it is not
        # UTF-8: that is the client's mistake. Any other decoding error stays a 500.
        if not has_request_context() or exc.object != await request.get_data():
            raise exc
        return await _respond(400, "invalid_request", "the request body is not valid UTF-8")
