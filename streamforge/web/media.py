"""Published media: ``/media/<video_id>/<path>`` with Range and conditional requests.

Only files of a ``ready`` video are served (a player never sees a half-made video), only
under ``hls/``, ``thumbs/``, ``poster.jpg`` or an uploaded ``poster-<hash>.jpg``, and every
key is validated by the storage layer's rules. Remote storage answers with a redirect to
its own URL.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from quart import Blueprint, Response, redirect, request

from streamforge.auth import media_links, policy
from streamforge.config import Settings
from streamforge.db.models import Privacy, Video, VideoStatus
from streamforge.errors import InvalidKey, NotFound
from streamforge.library.posters import is_custom_poster
from streamforge.library.videos import video_prefix
from streamforge.runtime import Runtime
from streamforge.storage import ObjectInfo, validate_key
from streamforge.web.auth import current_account, site_key
from streamforge.web.state import app_state, runtime

blueprint = Blueprint("media", __name__)

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".json": "application/json",
    ".vtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=10"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
ALLOWED_ROOTS = ("hls/", "thumbs/")
ALLOWED_FILES = ("poster.jpg",)
#: Files that name others by relative URL (playlists, the manifest, the thumbnails' VTT):
#: always sent from here, never redirected to remote storage, so what they name resolves
#: against /media/… again (a presigned URL signs one object only).
SENT_BY_US = (".m3u8", ".json", ".vtt")
#: Lifetime of a remote storage URL a non-public video's file is redirected to: long
#: enough to fetch it, short enough that a copied URL soon stops working.
PRIVATE_REDIRECT_SECONDS = 120


def content_type(rel: str) -> str:
    dot = rel.rfind(".")
    return CONTENT_TYPES.get(rel[dot:].lower(), "application/octet-stream")


def cache_control(rel: str, *, shared: bool = True) -> str:
    """Segments and images never change; playlists are re-read soon. Files of a video
    that is not public are ``private``: a proxy or CDN must not keep them for others."""
    value = IMMUTABLE if rel.endswith((".m4s", ".mp4", ".jpg")) else SHORT
    return value if shared else value.replace("public", "private", 1)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) for a single-range header; None when unsatisfiable.

    Raises ValueError when the header is not a single byte range (then it is ignored).
    """
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise ValueError(header)
    first, last = m.group(1), m.group(2)
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0:
            return None
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if start >= size or end <= start:
        return None
    return start, end


def _not_modified(info: ObjectInfo) -> bool:
    etag = f'"{info.etag}"'
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            return info.modified.replace(microsecond=0) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


#: Seconds a "this video is ready" answer is reused. A player fetches a segment every few
#: seconds per viewer; asking the database each time made it the bottleneck (see
#: docs/performance.md). Only positive answers are kept, so a new video is served at once;
#: a deleted video's files are gone from storage, so it stops within this time anyway.
READY_TTL = 5.0


@dataclass(frozen=True)
class Published:
    """What serving a ready video's files needs to know (cached for ``READY_TTL`` s)."""

    owner_id: str | None
    privacy: Privacy
    media_epoch: int


def _cache() -> dict[str, tuple[float, Published]]:
    """This app's (not the process's: tests run many apps) cache of published videos."""
    cache: dict[str, tuple[float, Published]] = app_state().published_media
    return cache


async def published(rt: Runtime, video_id: str) -> Published | None:
    """The video if it is ready (its files may be served), else None."""
    now = time.monotonic()
    _published = _cache()
    cached = _published.get(video_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    async with rt.db.read() as s:
        video = await s.get(Video, video_id)
        found = (
            Published(video.owner_id, video.privacy, video.media_epoch)
            if video is not None and video.status == VideoStatus.READY
            else None
        )
    if found is not None:
        if len(_published) > 10_000:
            _published.clear()
        _published[video_id] = (now + READY_TTL, found)
    else:
        _published.pop(video_id, None)
    return found


def forget(video_id: str) -> None:
    """Drop what is cached about a video (deleted, or its privacy changed)."""
    _cache().pop(video_id, None)


async def may_fetch(rt: Runtime, video_id: str, video: Published, token: str | None) -> bool:
    """Whether this request may have the video's files.

    A public video of a public library: anyone, without looking at who asks. Otherwise a
    valid media link token for this video and its current epoch, or a visitor (session or
    API token) allowed to watch it.
    """
    settings = rt.settings
    if video.privacy == Privacy.PUBLIC and settings.auth.public_library:
        return True
    if token is not None:
        return media_links.valid(site_key(), token, video_id, video.media_epoch)
    viewer = await current_account()
    return policy.may_watch(viewer, video.owner_id, video.privacy, settings)


def _front_server_headers(settings: Settings, path: Path | None, key: str) -> dict[str, str]:
    """X-Accel-Redirect / X-Sendfile headers when a front server should send the file."""
    mode = settings.server.sendfile
    if not mode or path is None:
        return {}
    if mode == "x-accel-redirect":
        return {"X-Accel-Redirect": settings.server.sendfile_prefix + key}
    return {"X-Sendfile": str(path)}


@blueprint.route("/media/<video_id>/<path:rel>", methods=["GET", "HEAD"])
async def serve(video_id: str, rel: str) -> Any:
    """A published file of a ready video (playlists, segments, thumbnails, poster).

    ``/media/<id>/~<token>/<rel>`` carries a media link token (videos that are not public;
    :mod:`streamforge.auth.media_links`). Every refusal is the same 404.
    """
    token: str | None = None
    if rel.startswith("~"):
        token, _, rel = rel[1:].partition("/")
    try:
        validate_key(video_id)
        validate_key(rel)
    except InvalidKey:
        raise NotFound("no such file") from None
    if not (rel.startswith(ALLOWED_ROOTS) or rel in ALLOWED_FILES or is_custom_poster(rel)):
        raise NotFound("no such file")
    rt = runtime()
    video = await published(rt, video_id)
    if video is None or not await may_fetch(rt, video_id, video, token):
        raise NotFound("no such file")
    key = video_prefix(video_id) + rel
    if rt.storage.local_path(key) is None and not rel.endswith(SENT_BY_US):
        if video.privacy == Privacy.PUBLIC and rt.settings.auth.public_library:
            url = await rt.storage.url(key)
        else:
            url = await rt.storage.url(key, expires=PRIVATE_REDIRECT_SECONDS, private=True)
        if url:
            return redirect(url, 302)
    info = await rt.storage.stat(key)
    if info is None:
        raise NotFound("no such file")
    headers = {
        "Content-Type": content_type(rel),
        "Cache-Control": cache_control(rel, shared=video.privacy == Privacy.PUBLIC),
        "ETag": f'"{info.etag}"',
        "Last-Modified": format_datetime(info.modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if _not_modified(info):
        return Response("", 304, headers)
    handoff = _front_server_headers(rt.settings, rt.storage.local_path(key), key)
    if handoff:
        # the front server answers Range and conditional requests itself
        for name in ("Accept-Ranges", "ETag", "Last-Modified"):
            headers.pop(name)
        return Response("", 200, {**headers, **handoff})
    start, end, status = 0, info.size, 200
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range", f'"{info.etag}"')
    if range_header and if_range == f'"{info.etag}"':
        try:
            wanted = parse_range(range_header, info.size)
        except ValueError:  # not a single byte range: answer with the whole file
            wanted = (0, info.size)
        else:
            if wanted is None:
                headers["Content-Range"] = f"bytes */{info.size}"
                return Response("", 416, headers)
            status = 206
            headers["Content-Range"] = f"bytes {wanted[0]}-{wanted[1] - 1}/{info.size}"
        start, end = wanted
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        response = Response("", status, headers)
        response.headers["Content-Length"] = str(end - start)  # the GET's length, not ""'s
        return response

    async def body() -> AsyncIterator[bytes]:
        async for chunk in rt.storage.read(key, start, end):
            yield chunk

    return Response(body(), status, headers)
