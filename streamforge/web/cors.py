"""CORS for ``/api/*``, so browser apps on other origins can use the API and upload by tus.

Off unless ``[server] cors_origins`` lists origins (``["*"]`` allows any). A preflight
(OPTIONS with ``Access-Control-Request-Method``) from an allowed origin is answered here;
a plain OPTIONS (tus discovery) still reaches its view.
"""

from __future__ import annotations

from quart import Quart, Response, request

ALLOW_METHODS = "GET, HEAD, POST, PATCH, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = ", ".join(
    [
        "Authorization",
        "Content-Type",
        "Upload-Offset",
        "Upload-Length",
        "Upload-Metadata",
        "Upload-Checksum",
        "Upload-Concat",
        "Upload-Defer-Length",
        "Tus-Resumable",
        "X-HTTP-Method-Override",
        "X-Requested-With",
    ]
)
EXPOSE_HEADERS = ", ".join(
    [
        "Location",
        "Upload-Offset",
        "Upload-Length",
        "Upload-Expires",
        "Tus-Version",
        "Tus-Resumable",
        "Tus-Max-Size",
        "Tus-Extension",
        "Tus-Checksum-Algorithm",
        "StreamForge-Video-Id",
    ]
)
MAX_AGE = "86400"


def install(app: Quart, origins: list[str]) -> None:
    """Answer preflights and add CORS headers to ``/api/*`` responses for ``origins``."""
    if not origins:
        return
    any_origin = "*" in origins
    allowed = set(origins)

    def allowed_origin() -> str | None:
        origin = request.headers.get("Origin")
        if origin is None or not request.path.startswith("/api/"):
            return None
        if any_origin:
            return "*"
        return origin if origin.rstrip("/").lower() in allowed else None

    def add_origin(response: Response, origin: str) -> None:
        response.headers["Access-Control-Allow-Origin"] = origin

    @app.before_request
    async def _preflight() -> Response | None:
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        origin = allowed_origin()
        if origin is None:
            return None
        response = Response(b"", status=204)
        add_origin(response, origin)
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    @app.after_request
    async def _expose(response: Response) -> Response:
        if not any_origin and request.path.startswith("/api/"):
            response.vary.add("Origin")  # the answer depends on who asks
        origin = allowed_origin()
        if origin is not None and "Access-Control-Allow-Origin" not in response.headers:
            add_origin(response, origin)
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
