"""docs/api.md stays true to the app: every route is in its index, every route it names
exists, and the listing parameters it explains are the ones the OpenAPI document has."""

from __future__ import annotations

import re
from pathlib import Path

from quart import Quart
from quart.typing import TestClientProtocol as Client

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# `GET /api/v1/videos/{video_id}` as the index table writes a route
NAMED_ROUTE = re.compile(r"`(GET|POST|PATCH|PUT|DELETE|OPTIONS|HEAD) (/[^`\s]*)`")


def app_routes(app: Quart) -> set[str]:
    """``METHOD /path`` of every route, path variables written ``{name}``."""
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
        methods = set(rule.methods or ()) - {"HEAD"}
        if methods != {"OPTIONS"}:  # Quart answers OPTIONS on every route by itself
            methods.discard("OPTIONS")
        routes |= {f"{method} {path}" for method in methods}
    return routes


def documented_routes() -> set[str]:
    return {f"{method} {path}" for method, path in NAMED_ROUTE.findall(DOC.read_text())}


def test_every_route_is_documented_and_every_documented_route_exists(app: Quart) -> None:
    routes = app_routes(app)
    assert "PATCH /api/v1/videos/{video_id}" in routes  # the conversion is what the doc uses
    assert sorted(routes - documented_routes()) == [], "routes missing from docs/api.md"
    assert sorted(documented_routes() - routes) == [], "docs/api.md names routes that are gone"


async def test_the_listing_parameters_are_the_openapi_ones(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    in_spec = [p["name"] for p in spec["paths"]["/api/v1/videos"]["get"]["parameters"]]
    section = DOC.read_text().split("### Listing and paging", 1)[1].split("\n#", 1)[0]
    in_doc = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    assert in_doc == in_spec
