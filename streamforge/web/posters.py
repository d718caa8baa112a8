"""Custom posters: ``PUT`` and ``DELETE /api/v1/videos/{id}/poster`` (the owner or an admin).

The body is the image itself (``Content-Type: image/jpeg``, ``image/png`` or
``image/webp``), or a ``multipart/form-data`` form with the image in its ``poster`` field.
What is done with it is :mod:`streamforge.library.posters`'s.
"""

from __future__ import annotations

import re
from typing import Any

from quart import Blueprint, request
from quart_schema import validate_response
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge

from streamforge.events import make_event
from streamforge.library import posters, videos
from streamforge.library.posters import MAX_POSTER_BYTES, PosterRefused
from streamforge.library.serialize import video_to_dict
from streamforge.web import access
from streamforge.web.api import VideoOut
from streamforge.web.bodies import BodyLimit
from streamforge.web.errors import error_body
from streamforge.web.state import runtime

blueprint = Blueprint("posters", __name__, url_prefix="/api/v1")
_POSTER_PATH = re.compile(r"^/api/v1/videos/[^/]+/poster$")
#: Room for a form's boundaries and headers around the image itself.
FORM_SLACK = 64 * 1024


def _is_poster_put(method: str, path: str, headers: Headers) -> bool:
    return method == "PUT" and _POSTER_PATH.match(path) is not None


#: A poster's body may be larger than the app-wide limit (meant for JSON), up to its own.
BODY_LIMIT = BodyLimit(_is_poster_put, MAX_POSTER_BYTES + FORM_SLACK)


@blueprint.errorhandler(PosterRefused)
async def _refused(exc: PosterRefused) -> tuple[dict[str, Any], int]:
    return error_body(exc.status, exc.code, str(exc)), exc.status


def _too_large() -> PosterRefused:
    return PosterRefused(
        413, "poster_too_large", f"a poster may have at most {MAX_POSTER_BYTES} bytes"
    )


async def _image() -> tuple[bytes, str]:
    """The uploaded image's bytes and declared type, from a raw body or a form."""
    if (request.content_length or 0) > MAX_POSTER_BYTES + FORM_SLACK:
        raise _too_large()
    try:
        if request.mimetype == "multipart/form-data":
            part = (await request.files).get("poster")
            if part is None:
                raise PosterRefused(
                    400, "invalid_request", "the form has no file in its `poster` field"
                )
            data: bytes = part.read(MAX_POSTER_BYTES + 1)
            return data, part.mimetype
        body = await request.get_data(cache=False, as_text=False)
        return body if isinstance(body, bytes) else body.encode(), request.mimetype
    except RequestEntityTooLarge:
        raise _too_large() from None


async def _answer(video_id: str) -> dict[str, Any]:
    """The video's JSON for the caller, after telling open pages and event clients."""
    rt = runtime()
    async with rt.db.read() as s:
        video = await videos.get_video(s, video_id)
        body = video_to_dict(video, rt.settings.public_url, access.media_token(video))
        state = video_to_dict(video, rt.settings.public_url)
    rt.events.publish(make_event("video.state", video_id, video=state))
    return body


@blueprint.put("/videos/<video_id>/poster")
@validate_response(VideoOut)
async def put_poster(video_id: str) -> dict[str, Any]:
    """Replace a ready video's poster with an uploaded JPEG, PNG or WebP image.

    The image is decoded, cropped to the video's poster size and stored as a new JPEG
    without metadata; ``poster_url`` changes. 415: not one of those types; 413: over
    10 MiB; 422: damaged, truncated or over 40 million pixels; 409: not ready yet.
    """
    rt = runtime()
    async with rt.db.read() as s:
        await access.require_change(await videos.get_video(s, video_id))
    data, content_type = await _image()
    await posters.replace_poster(rt.db, rt.storage, video_id, data, content_type)
    return await _answer(video_id)


@blueprint.delete("/videos/<video_id>/poster")
@validate_response(VideoOut)
async def delete_poster(video_id: str) -> dict[str, Any]:
    """Go back to the poster the transcoder made (the owner or an admin)."""
    rt = runtime()
    async with rt.db.read() as s:
        await access.require_change(await videos.get_video(s, video_id))
    await posters.remove_poster(rt.db, rt.storage, video_id)
    return await _answer(video_id)
