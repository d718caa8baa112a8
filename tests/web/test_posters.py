"""Custom posters through ``PUT /api/v1/videos/{id}/poster``: real images made with Pillow,
the real app, real storage. What comes back is always a new JPEG of the poster's size,
never a byte of what was sent; anything else is refused and changes nothing."""

from __future__ import annotations

import io
import struct
import time
import zlib
from typing import Any

import pytest
from PIL import Image
from quart import Quart
from quart.typing import TestClientProtocol as Client

from streamforge.db.models import Privacy, Role, VideoStatus
from streamforge.library.posters import MAX_POSTER_BYTES
from streamforge.runtime import Runtime
from tests.authn import PASSWORD, bearer_client, make_account
from tests.web.helpers import add_ready_video, add_video

SIZE = (640, 360)  # the helper's video: one 640×360 rendition
SECRET = b"SF-SECRET-MARKER-7f3a"


@pytest.fixture
async def video_id(rt: Runtime) -> str:
    return await add_ready_video(rt)


def picture(kind: str, size: tuple[int, int] = (800, 600), mode: str = "RGB", **opts: Any) -> bytes:
    """An image with a red left half and a blue right half."""
    image = Image.new(mode, size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    image.save(out, kind, **opts)
    return out.getvalue()


def jpeg_with_metadata() -> bytes:
    """A JPEG carrying EXIF (with a GPS-ish note) and a comment holding ``SECRET``."""
    exif = Image.Exif()
    exif[0x010E] = f"description {SECRET.decode()}"  # ImageDescription
    exif[0x0131] = "SecretCamera"  # Software
    return picture("JPEG", exif=exif.tobytes(), comment=SECRET + b"<script>alert(1)</script>")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few hundred bytes declaring ``width`` × ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * 4096, 9)  # what a decoder would start inflating
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


async def put(client: Any, video_id: str, data: bytes, ctype: str) -> Any:
    return await client.put(
        f"/api/v1/videos/{video_id}/poster", data=data, headers={"Content-Type": ctype}
    )


async def fetch_poster(client: Any, url: str) -> tuple[bytes, Image.Image]:
    response = await client.get(url)
    assert response.status_code == 200, url
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    data = await response.get_data(as_text=False)
    assert isinstance(data, bytes)
    image = Image.open(io.BytesIO(data))
    image.load()
    return data, image


async def stored(rt: Runtime, video_id: str) -> list[str]:
    return await rt.storage.list(f"videos/{video_id}/")


@pytest.mark.parametrize(
    ("kind", "ctype", "opts"),
    [
        ("PNG", "image/png", {}),
        ("JPEG", "image/jpeg", {"quality": 95}),
        ("WEBP", "image/webp", {}),
    ],
)
async def test_an_image_becomes_a_jpeg_of_the_poster_size(
    client: Client, video_id: str, kind: str, ctype: str, opts: dict[str, Any]
) -> None:
    sent = picture(kind, **opts)
    response = await put(client, video_id, sent, ctype)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["poster_url"].startswith(f"/media/{video_id}/poster-")
    data, image = await fetch_poster(client, body["poster_url"])
    assert data != sent
    assert image.format == "JPEG"
    assert image.size == SIZE
    assert image.mode == "RGB"
    # the picture itself survived: red on the left, blue on the right
    left, right = image.getpixel((40, 180)), image.getpixel((600, 180))
    assert left[0] > 200, left  # type: ignore[index]
    assert left[2] < 60, left  # type: ignore[index]
    assert right[2] > 200, right  # type: ignore[index]
    assert right[0] < 60, right  # type: ignore[index]
    # the video JSON says the same
    again = await (await client.get(f"/api/v1/videos/{video_id}")).get_json()
    assert again["poster_url"] == body["poster_url"]


async def test_a_form_upload_and_a_transparent_png(client: Client, video_id: str) -> None:
    from werkzeug.datastructures import FileStorage

    sent = picture("PNG", size=(300, 300), mode="RGBA")
    part = FileStorage(io.BytesIO(sent), filename="x.png", content_type="image/png")
    response = await client.put(f"/api/v1/videos/{video_id}/poster", files={"poster": part})
    assert response.status_code == 200, await response.get_data(as_text=True)
    _, image = await fetch_poster(client, (await response.get_json())["poster_url"])
    assert image.size == SIZE  # a square picture, cropped to the video's shape


async def test_metadata_and_the_uploaded_bytes_are_never_served(
    client: Client, rt: Runtime, video_id: str
) -> None:
    sent = jpeg_with_metadata()
    assert SECRET in sent
    assert b"SecretCamera" in sent
    response = await put(client, video_id, sent, "image/jpeg")
    assert response.status_code == 200
    data, image = await fetch_poster(client, (await response.get_json())["poster_url"])
    for marker in (SECRET, b"SecretCamera", b"<script", b"Exif"):
        assert marker not in data
    assert not image.getexif()
    assert "comment" not in image.info
    assert "exif" not in image.info
    # not stored anywhere either
    for key in await stored(rt, video_id):
        content = b"".join([c async for c in rt.storage.read(key)])
        assert SECRET not in content, key


async def test_a_new_poster_gets_a_new_url_and_the_old_one_goes(
    client: Client, rt: Runtime, video_id: str
) -> None:
    generated = f"/media/{video_id}/poster.jpg"
    first = (await (await put(client, video_id, picture("PNG"), "image/png")).get_json())[
        "poster_url"
    ]
    other = picture("PNG", size=(1920, 1080))
    second = (await (await put(client, video_id, other, "image/png")).get_json())["poster_url"]
    assert first != second != generated
    assert (await client.get(first)).status_code == 404  # replaced, removed
    assert (await client.get(second)).status_code == 200
    # players that read manifest.json find it too
    manifest = await (await client.get(f"/media/{video_id}/hls/manifest.json")).get_json()
    assert f"/media/{video_id}/hls/{manifest['poster']}".replace("hls/../", "") == second
    # and the transcoder's poster comes back on request
    back = await client.delete(f"/api/v1/videos/{video_id}/poster")
    assert back.status_code == 200
    assert (await back.get_json())["poster_url"] == generated
    assert (await client.get(second)).status_code == 404
    assert [k for k in await stored(rt, video_id) if "poster" in k] == [
        f"videos/{video_id}/poster.jpg"
    ]


@pytest.mark.parametrize(
    ("data", "ctype", "status", "code"),
    [
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)'
            b"</script></svg>",
            "image/svg+xml",
            415,
            "unsupported_media_type",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/png", 415, "unsupported_media_type"),
        (b"<!doctype html><script>alert(1)</script>", "text/html", 415, "unsupported_media_type"),
        (b"<html><script>alert(1)</script></html>", "image/jpeg", 415, "unsupported_media_type"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", 415, "unsupported_media_type"),
        (b"", "image/png", 422, "invalid_image"),
        (b"\x89PNG\r\n\x1a\n", "image/png", 422, "invalid_image"),
    ],
    ids=["svg", "svg-as-png", "html", "html-as-jpeg", "gif", "empty", "png-signature-only"],
)
async def test_what_is_not_a_poster_is_refused_and_nothing_changes(
    client: Client, rt: Runtime, video_id: str, data: bytes, ctype: str, status: int, code: str
) -> None:
    before = await stored(rt, video_id)
    response = await put(client, video_id, data, ctype)
    assert response.status_code == status, await response.get_data(as_text=True)
    error = (await response.get_json())["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert error["message"]
    assert await stored(rt, video_id) == before
    body = await (await client.get(f"/api/v1/videos/{video_id}")).get_json()
    assert body["poster_url"] == f"/media/{video_id}/poster.jpg"


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
async def test_a_truncated_image_is_refused(
    client: Client, rt: Runtime, video_id: str, kind: str
) -> None:
    opts: dict[str, Any] = {"quality": 95} if kind == "JPEG" else {}
    whole = picture(kind, size=(1200, 900), **opts)
    before = await stored(rt, video_id)
    response = await put(client, video_id, whole[: len(whole) // 2], f"image/{kind.lower()}")
    assert response.status_code == 422, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["code"] == "invalid_image"
    assert await stored(rt, video_id) == before


@pytest.mark.parametrize(
    "size",
    [(100_000, 100_000), (20_000, 20_000), (8_000, 6_000)],  # 10 G, 400 M, 48 M pixels
    ids=["10G", "400M", "48M"],
)
async def test_a_png_bomb_is_refused_before_decoding(
    client: Client, rt: Runtime, video_id: str, size: tuple[int, int]
) -> None:
    bomb = png_bomb(*size)
    assert len(bomb) < 1000
    before = await stored(rt, video_id)
    started = time.monotonic()
    response = await put(client, video_id, bomb, "image/png")
    # decoding 48 M pixels would take seconds and 150 MB; reading a header takes nothing
    assert time.monotonic() - started < 5
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"] == "image_too_large"
    assert await stored(rt, video_id) == before


async def test_a_body_over_the_limit_is_a_413(client: Client, video_id: str) -> None:
    response = await put(client, video_id, b"\0" * (MAX_POSTER_BYTES + 70_000), "image/png")
    assert response.status_code == 413
    assert (await response.get_json())["error"]["code"] == "poster_too_large"


async def test_a_video_that_is_not_ready_has_no_poster_to_change(
    client: Client, rt: Runtime
) -> None:
    video_id = await add_video(rt, "processing1", VideoStatus.PROCESSING)
    response = await put(client, video_id, picture("PNG"), "image/png")
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "video_not_ready"
    assert (await put(client, "nosuchvideo", picture("PNG"), "image/png")).status_code == 404


async def test_only_the_owner_or_an_admin(app: Quart, rt: Runtime) -> None:
    owner, owner_token = await make_account(rt.db, "owner", Role.UPLOADER)
    _, other_token = await make_account(rt.db, "other", Role.UPLOADER)
    public = await add_ready_video(rt, "publicvid01", owner_id=owner.id)
    private = await add_ready_video(rt, "privatevid1", owner_id=owner.id, privacy=Privacy.PRIVATE)
    other, anonymous = bearer_client(app, other_token), app.test_client()
    png = picture("PNG")
    assert (await put(other, public, png, "image/png")).status_code == 403
    assert (await put(other, private, png, "image/png")).status_code == 404
    assert (await put(anonymous, public, png, "image/png")).status_code == 401
    assert (await other.delete(f"/api/v1/videos/{public}/poster")).status_code == 403
    assert [k for k in await stored(rt, public) if "poster" in k] == [f"videos/{public}/poster.jpg"]
    owner_client = bearer_client(app, owner_token)
    assert (await put(owner_client, private, png, "image/png")).status_code == 200


async def test_a_logged_in_browser_needs_the_csrf_token(
    app: Quart, rt: Runtime, video_id: str
) -> None:
    import re

    await make_account(rt.db, "editor", Role.ADMIN, password=PASSWORD)
    browser = app.test_client()
    logged = await browser.post("/login", form={"name": "editor", "password": PASSWORD})
    assert logged.status_code == 303
    page = await (await browser.get(f"/v/{video_id}")).get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert found is not None
    png = picture("PNG")
    assert (await put(browser, video_id, png, "image/png")).status_code == 403
    response = await browser.put(
        f"/api/v1/videos/{video_id}/poster",
        data=png,
        headers={"Content-Type": "image/png", "X-CSRF-Token": found.group(1)},
    )
    assert response.status_code == 200
