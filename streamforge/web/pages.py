"""Pages rendered from the active theme: the library and the video page; theme static files."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart, Response, render_template, request, send_file

from streamforge import __version__
from streamforge.errors import InvalidRequest, NotFound
from streamforge.library import listing, videos
from streamforge.library.serialize import video_to_dict
from streamforge.plugins import call_hook
from streamforge.web import access
from streamforge.web.state import AppState, app_state, runtime

blueprint = Blueprint("pages", __name__)
PAGE_SIZE = 24


def setup_templates(app: Quart, state: AppState) -> None:
    app.jinja_env.loader = state.themes.loader()
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.globals.update(
        static_url=lambda rel: f"/static/{rel}?v={state.themes.static_hash(rel)}",
        site_name="StreamForge",
        version=__version__,
    )


def format_duration(seconds: float | None) -> str:
    """``83.4`` -> ``"1:23"``; hours when needed."""
    if not seconds:
        return "0:00"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


async def render_page(template: str, **context: Any) -> str:
    """Render a theme template with the plugin-provided extra variables merged in."""
    extra: dict[str, Any] = {}
    for result in await call_hook(
        app_state().registry.pm,
        "extra_template_vars",
        template=template,
        request_path=request.path,
    ):
        extra.update(result)
    return await render_template(template, **{**extra, **context})


@blueprint.get("/")
async def library() -> str:
    q = request.args.get("q", "")[:200]
    sort = request.args.get("sort") or "newest"
    listing.order_named(sort)  # an unknown sort is a 400 naming the choices
    cursor = request.args.get("cursor") or None
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        raise InvalidRequest("page must be a number") from None
    account = await access.require_browse()
    mine = request.args.get("mine") == "1" and account is not None
    rt = runtime()
    async with rt.db.read() as s:
        found = await listing.list_videos(
            s,
            owner_id=account.id if mine and account else None,
            search=q,
            sort=sort,
            limit=PAGE_SIZE,
            # ?page=N: links from before cursors; they keep working, seeking by offset
            offset=0 if cursor else (page - 1) * PAGE_SIZE,
            cursor=cursor,
        )
        items = [
            video_to_dict(v, rt.settings.public_url, access.media_token(v)) for v in found.items
        ]
    return await render_page(
        "library.html",
        videos=items,
        total=found.total,
        q=q,
        sort=sort,
        mine=mine,
        next_cursor=found.next_cursor,
        prev_cursor=found.prev_cursor,
    )


@blueprint.get("/v/<video_id>")
async def video_page(video_id: str) -> str:
    rt = runtime()
    async with rt.db.read() as s:
        row = await videos.get_video(s, video_id)
        await access.require_watch(row)
        video = video_to_dict(row, rt.settings.public_url, access.media_token(row))
        can_edit = await access.may_change(row)
    return await render_page("video.html", video=video, can_edit=can_edit)


@blueprint.get("/upload")
async def upload_page() -> str:
    await access.require_upload()
    settings = app_state().settings
    return await render_page(
        "upload.html",
        upload_endpoint="/api/v1/uploads",
        max_upload_size=settings.uploads.max_size,
    )


@blueprint.get("/static/<path:rel>")
async def static(rel: str) -> Response:
    state = app_state()
    path = state.themes.find_static(rel)
    if path is None:
        raise NotFound("no such file")
    response = await send_file(path, conditional=True)
    if request.args.get("v") == state.themes.static_hash(rel):
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
