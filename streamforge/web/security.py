"""Security headers on every response.

Pages get a Content-Security-Policy that allows scripts from this site only (no inline
script, no ``eval``), so an injected ``<script>`` in a title would not run even if
escaping failed. Styles may be inline (``style=`` attributes carry layout values such as
the player's aspect ratio). Media, images and fetches may also come from an https origin
(S3 or a CDN serving the files). Pages cannot be framed by other sites. The one page with
inline script, Swagger UI at ``/docs``, gets each of its scripts allowed by hash. Import
maps (``<script type="importmap">``, which hold only URLs) are allowed by hash too, but only
those the app itself wrote through the ``import_map()`` template global: one injected into a
page would still be refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable

from markupsafe import Markup
from quart import Quart, Response, g, request

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
POLICY = (
    "default-src 'self'; script-src 'self'{extra}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: data: blob:; media-src 'self' https: blob:; "
    "connect-src 'self' https: ws: wss:; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    # nothing of this site's URLs (they may carry a private video's media link) leaks
    # to another site through the Referer header
    "Referrer-Policy": "no-referrer",
}


def install(app: Quart) -> None:
    app.after_request(add_headers)

    def import_map(prefix: str, names: list[str]) -> Markup:
        """``<script type="importmap">`` sending each ``<prefix><name>.js`` module's plain
        URL to its content-hashed one (see docs/player.md), allowed by the page's CSP."""
        static_url: Callable[[str], str] = app.jinja_env.globals["static_url"]  # type: ignore[assignment]
        imports = {}
        for name in names:
            url = static_url(f"{prefix}{name}.js")
            imports[url.split("?")[0]] = url
        text = json.dumps({"imports": imports}, indent=1)
        g.setdefault("sf_csp_hashes", []).append(_hash(text.encode()))
        return Markup(f'<script type="importmap">{text}</script>')

    app.jinja_env.globals["import_map"] = import_map


async def add_headers(response: Response) -> Response:
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        if request.path == "/docs":
            body = await response.get_data(as_text=False)
            hashes = [_hash(script) for script in _INLINE_SCRIPT.findall(body)]
        else:
            hashes = g.get("sf_csp_hashes", [])
        extra = "".join(f" '{h}'" for h in hashes)
        response.headers["Content-Security-Policy"] = POLICY.format(extra=extra)
        response.headers["X-Frame-Options"] = "DENY"
    return response


def _hash(script: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode()
