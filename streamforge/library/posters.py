"""Custom posters: a picture the owner uploads in place of the frame the transcoder chose.

The uploaded bytes are never stored or served. They are decoded (JPEG, PNG or WebP only,
checked against a byte and a pixel limit before any pixel is decoded), cropped to the
video's poster size and encoded again as a new JPEG that carries no metadata: no EXIF, no
comment, no ICC profile, nothing a crafted file (an SVG, HTML, a polyglot) hid in it.

The new poster is stored under a name made from its content (``poster-<hash>.jpg``), so
its URL changes with every new picture and browsers and CDNs may keep each one for good.
The transcoder's own ``poster.jpg`` is kept: removing the custom one goes back to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from streamforge.db.models import Video, VideoStatus
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, StorageError
from streamforge.library.videos import get_video, video_prefix
from streamforge.media.thumbnails import fit_width
from streamforge.media.transcode import POSTER_MAX_WIDTH
from streamforge.storage import StorageBackend

#: Largest upload taken (bytes). A 4K PNG screenshot is ~8 MB.
MAX_POSTER_BYTES = 10 * 1024 * 1024
#: Largest picture decoded (width × height, from the header, before decoding): 8K is ~35 M.
MAX_POSTER_PIXELS = 40_000_000
#: Declared type -> the one Pillow decoder allowed for it.
IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
GENERATED = "poster.jpg"
_CUSTOM = re.compile(r"^poster-[0-9a-f]{16}\.jpg$")
JPEG_QUALITY = 85


class PosterRefused(InvalidRequest):
    """An uploaded poster was refused: its type, its size, or it does not decode."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def is_custom_poster(rel: str) -> bool:
    """Whether ``rel`` (relative to the video's folder) names an uploaded poster."""
    return bool(_CUSTOM.fullmatch(rel))


def poster_size(video: Video) -> tuple[int, int]:
    """The size the transcoder gives this video's poster: its largest rendition's (or the
    source's) aspect, no wider than ``POSTER_MAX_WIDTH``."""
    sizes = [(r.width, r.height) for r in video.renditions if r.width and r.height]
    if sizes:
        width, height = max(sizes, key=lambda s: s[0] * s[1])
    elif video.width and video.height:
        width, height = video.width, video.height
    else:
        width, height = 1280, 720
    return fit_width(width, height, POSTER_MAX_WIDTH)


def render_poster(data: bytes, content_type: str, size: tuple[int, int]) -> bytes:
    """Decode ``data`` (declared as ``content_type``) and return a new JPEG of exactly
    ``size``, the picture scaled to cover it and centred. Raises PosterRefused."""
    kind = IMAGE_TYPES.get(content_type.split(";")[0].strip().lower())
    if kind is None:
        allowed = ", ".join(IMAGE_TYPES)
        raise PosterRefused(
            415, "unsupported_media_type", f"a poster must be {allowed}, not {content_type!r}"
        )
    if len(data) > MAX_POSTER_BYTES:
        raise PosterRefused(
            413, "poster_too_large", f"a poster may have at most {MAX_POSTER_BYTES} bytes"
        )
    if not data:
        raise PosterRefused(422, "invalid_image", "the poster image is empty")
    try:
        # only the declared format's decoder may look at the bytes: a file of another
        # kind (SVG, HTML, PSD, EPS...) is refused instead of being tried
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > MAX_POSTER_PIXELS:
                raise PosterRefused(
                    422,
                    "image_too_large",
                    f"the poster is {width}×{height} pixels; at most "
                    f"{MAX_POSTER_PIXELS:,} pixels are taken",
                )
            image.draft("RGB", size)  # JPEG: decode at a reduced scale when it is larger
            image.load()
            picture = ImageOps.exif_transpose(image)  # phones store the rotation in EXIF
    except PosterRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PosterRefused(
            422, "image_too_large", "the poster declares too many pixels to decode"
        ) from None
    except UnidentifiedImageError:
        if _looks_like(kind, data):  # the right signature, then nothing usable
            raise PosterRefused(
                422, "invalid_image", f"the poster is a damaged or truncated {kind} image"
            ) from None
        raise PosterRefused(
            415, "unsupported_media_type", f"the body is not a {kind} image ({content_type})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PosterRefused(
            422, "invalid_image", f"the poster image is damaged or truncated: {exc}"
        ) from None
    return _encode(picture, size)


def _looks_like(kind: str, data: bytes) -> bool:
    """Whether ``data`` starts with the file signature of ``kind``."""
    if kind == "WEBP":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(b"\x89PNG\r\n\x1a\n" if kind == "PNG" else b"\xff\xd8\xff")


def _encode(picture: Image.Image, size: tuple[int, int]) -> bytes:
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        flat = Image.new("RGB", rgba.size)  # transparent parts become black, like a player
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = picture.convert("RGB")
    fitted = ImageOps.fit(flat, size, Image.Resampling.LANCZOS)
    clean = Image.new("RGB", size)  # a fresh image: no info, EXIF or profile carried over
    clean.paste(fitted)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class PosterChange:
    """The poster a video had before a change, and the one it has now."""

    old: str | None
    new: str | None


async def replace_poster(
    db: Database, storage: StorageBackend, video_id: str, data: bytes, content_type: str
) -> PosterChange:
    """Make ``data`` the poster of a ready video (the caller checked who may)."""
    async with db.read() as s:
        video = await get_video(s, video_id)
        _require_ready(video)
        size = poster_size(video)
    jpeg = await asyncio.to_thread(render_poster, data, content_type, size)
    name = f"poster-{hashlib.sha256(jpeg).hexdigest()[:16]}.jpg"
    await storage.put_bytes(video_prefix(video_id) + name, jpeg)
    return await _point_to(db, storage, video_id, name)


async def remove_poster(db: Database, storage: StorageBackend, video_id: str) -> PosterChange:
    """Go back to the transcoder's poster (or to none, when it made none)."""
    generated = await storage.exists(video_prefix(video_id) + GENERATED)
    return await _point_to(db, storage, video_id, GENERATED if generated else None)


def _require_ready(video: Video) -> None:
    if video.status != VideoStatus.READY:
        raise PosterRefused(
            409,
            "video_not_ready",
            f"video {video.id!r} is {video.status.value}: its poster can be changed once it "
            "is ready",
        )


async def _point_to(
    db: Database, storage: StorageBackend, video_id: str, name: str | None
) -> PosterChange:
    async with db.session() as s:
        video = await get_video(s, video_id)
        _require_ready(video)  # (again: it may have been re-queued meanwhile)
        outputs = dict(video.outputs or {})
        old = outputs.get("poster")
        outputs["poster"] = name
        video.outputs = outputs  # a new dict: the JSON column sees the change
        manifest = outputs.get("manifest")
        await s.flush()
    if manifest:
        await _point_manifest(storage, video_prefix(video_id) + manifest, name)
    if old and old != name and is_custom_poster(old):
        await storage.delete(video_prefix(video_id) + old)
    return PosterChange(old=old, new=name)


async def _point_manifest(storage: StorageBackend, key: str, name: str | None) -> None:
    """Make ``manifest.json`` (in ``hls/``) name the poster too, for players that read it."""
    try:
        raw = b"".join([chunk async for chunk in storage.read(key)])
        manifest = json.loads(raw)
    except (StorageError, ValueError):
        return  # no manifest, or not ours: the video JSON's poster_url is what counts
    if not isinstance(manifest, dict):
        return
    manifest["poster"] = f"../{name}" if name else None
    await storage.put_bytes(key, json.dumps(manifest, indent=1).encode())
