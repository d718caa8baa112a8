"""The JSON API under ``/api/v1``. Views validate, call one service, return a schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_request, validate_response

from streamforge import __version__
from streamforge.db.models import Privacy, VideoStatus
from streamforge.errors import AuthenticationFailed
from streamforge.events import make_event, stable_event_id
from streamforge.library import listing, videos
from streamforge.library.notify import announce
from streamforge.library.serialize import video_to_dict
from streamforge.web import access, media
from streamforge.web.state import runtime

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")


class Health(BaseModel):
    status: str
    version: str


class RenditionOut(BaseModel):
    name: str
    width: int
    height: int
    bandwidth: int
    average_bandwidth: int
    codecs: str
    frame_rate: float
    playlist_url: str


class VideoOut(BaseModel):
    id: str
    title: str
    description: str
    status: VideoStatus
    progress: float = Field(ge=0, le=100)
    error: str | None
    privacy: Privacy
    owner_id: str | None = Field(description="the account that uploaded it, if any")
    duration: float | None
    width: int | None
    height: int | None
    created_at: datetime
    updated_at: datetime | None
    ready_at: datetime | None
    source_filename: str | None
    renditions: list[RenditionOut]
    hls_url: str | None = Field(description="master.m3u8, when ready")
    manifest_url: str | None = Field(description="manifest.json for the StreamForge player")
    thumbnails_url: str | None = Field(description="WebVTT track of seek-bar thumbnails")
    poster_url: str | None


class VideoList(BaseModel):
    items: list[VideoOut]
    total: int = Field(description="every video that matches, on all pages")
    limit: int
    offset: int
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the page after this one; null on the last"
    )
    prev_cursor: str | None = Field(
        None, description="pass as `cursor` for the page before this one; null on the first"
    )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field("", max_length=200, description="words to find in titles and descriptions")
    status: VideoStatus | None = None
    sort: listing.Sort = "newest"
    mine: bool = Field(False, description="your own videos, of any privacy (needs a login)")
    limit: int = Field(24, ge=1, le=100)
    offset: int = Field(0, ge=0, le=10_000_000, description="rows to skip; prefer `cursor`")
    cursor: str | None = Field(
        None,
        max_length=1000,
        description="`next_cursor` or `prev_cursor` of an earlier response with the same "
        "`sort`: as fast on page 4,000 as on page 1, and nothing is skipped or repeated when "
        "videos are added meanwhile (not with `offset`)",
    )


class VideoPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    privacy: Privacy | None = None


class Deleted(BaseModel):
    id: str
    deleted: bool


def _out(video: Any) -> dict[str, Any]:
    """A video the visitor may watch, its media URLs signed when it is not public."""
    return video_to_dict(video, runtime().settings.public_url, access.media_token(video))


@blueprint.get("/health")
@validate_response(Health)
async def health() -> Health:
    """Liveness: the process is up and answering."""
    return Health(status="ok", version=__version__)


@blueprint.get("/videos")
@validate_querystring(ListQuery)
@validate_response(VideoList)
async def list_videos(query_args: ListQuery) -> dict[str, Any]:
    """List public videos (``mine``: your own, of any privacy), newest first; search with
    ``q``; page with ``cursor``."""
    account = await access.require_browse()
    if query_args.mine and account is None:
        raise AuthenticationFailed("log in (or send an API token) to list your videos")
    rt = runtime()
    async with rt.db.read() as s:
        page = await listing.list_videos(
            s,
            owner_id=account.id if query_args.mine and account else None,
            search=query_args.q,
            status=query_args.status,
            sort=query_args.sort,
            limit=query_args.limit,
            offset=query_args.offset,
            cursor=query_args.cursor,
        )
        items = [_out(v) for v in page.items]
    return {
        "items": items,
        "total": page.total,
        "limit": query_args.limit,
        "offset": query_args.offset,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }


@blueprint.get("/videos/<video_id>")
@validate_response(VideoOut)
async def get_video(video_id: str) -> dict[str, Any]:
    """One video with its status, renditions and media URLs."""
    await access.require_browse()  # members-only: log in first, so ids cannot be probed
    async with runtime().db.read() as s:
        video = await videos.get_video(s, video_id)
        await access.require_watch(video)
        return _out(video)


@blueprint.patch("/videos/<video_id>")
@validate_request(VideoPatch)
@validate_response(VideoOut)
async def patch_video(video_id: str, data: VideoPatch) -> dict[str, Any]:
    """Change a video's title, description or privacy (the owner or an admin).

    A privacy change invalidates every media link of the video given out before it.
    """
    rt = runtime()
    await access.require_browse()  # (before looking the id up: see get_video)
    async with rt.db.read() as s:  # (not inside the write: checking a token may write)
        await access.require_change(await videos.get_video(s, video_id))
    async with rt.db.session() as s:
        video = await videos.update_video(
            s, video_id, title=data.title, description=data.description, privacy=data.privacy
        )
        body = _out(video)
        state = video_to_dict(video, rt.settings.public_url)
    media.forget(video_id)
    # open pages and event clients learn the change (and lose sight of a now-private video)
    rt.events.publish(make_event("video.state", video_id, video=state))
    return body


@blueprint.delete("/videos/<video_id>")
@validate_response(Deleted)
async def delete_video(video_id: str) -> Deleted:
    """Delete a video, its files, and cancel its transcode (the owner or an admin)."""
    rt = runtime()
    await access.require_browse()  # (before looking the id up: see get_video)
    async with rt.db.read() as s:
        await access.require_change(await videos.get_video(s, video_id))
    await videos.delete_video(rt.db, rt.storage, video_id)
    media.forget(video_id)
    event_id = stable_event_id("video.deleted", video_id)
    event = make_event("video.deleted", video_id, event_id=event_id)
    await announce(rt, event, "video_deleted", video_id=video_id)
    return Deleted(id=video_id, deleted=True)
