"""The API docs UI at ``/docs``, with Swagger UI's files served from the installed
``swagger-ui-py`` package (Swagger UI 5, which reads OpenAPI 3.1), never from a CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui
from quart import Blueprint, send_from_directory
from quart_schema import hide

from streamforge.errors import NotFound

blueprint = Blueprint("docs_assets", __name__)
ASSETS = Path(swagger_ui.__file__).parent / "static"
SERVED = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}


@blueprint.get("/docs/assets/<name>")
@hide
async def asset(name: str) -> Any:
    if name not in SERVED:
        raise NotFound("no such asset")
    response = await send_from_directory(ASSETS, name)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
