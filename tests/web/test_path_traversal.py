"""Path traversal against every route that serves or names files: media (plain and with a
media link token), theme static files (with a site override folder), the docs assets and
the upload routes that take an id. Every escape is sent in many spellings — ``..``,
``%2e%2e%2f``, double encoding, backslashes, ``%5c``, absolute paths, NUL, overlong UTF-8 —
and must get exactly a 404, with no byte of any sentinel file in the answer: files outside
the served folders, next to them, a video's source, and another video's files (a link
token of video A must never open video B).

Through the app's test client (which decodes the path once, as Hypercorn does), then the
same against a real ``streamforge serve`` over raw sockets, for what no client library
sends as is: bare ``..`` segments, raw backslashes, NUL and non-ASCII bytes, absolute-form
and relative request targets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from quart import Quart

from streamforge.db.models import Privacy, Role
from streamforge.errors import InvalidKey
from streamforge.runtime import Runtime
from streamforge.storage import validate_key
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.web.helpers import FILES, add_ready_video, add_ready_video_to

A, B = "videoaaaaaa", "videobbbbbb"
#: Each sentinel's bytes, by where it lives. None of them may ever come back.
SENTINELS = {
    "outside": b"SENTINEL-OUTSIDE-1d5e",  # <tmp>/outside-secret.txt, beside the data folder
    "data": b"SENTINEL-DATA-88aa",  # <data>/data-secret.txt (next to the database)
    "root": b"SENTINEL-ROOT-c0de",  # <data>/media/root-secret.txt (the storage root)
    "videos": b"SENTINEL-VIDEOS-4242",  # <data>/media/videos/secret.txt
    "source": b"SENTINEL-SOURCE-9f9f",  # video A's original upload (never served)
    "beside": b"SENTINEL-BESIDE-7070",  # <data>/media/videos/A/secret.txt
    "site": b"SENTINEL-SITE-5151",  # <site>/secret.txt, beside the override static folder
    "template": b"SENTINEL-TEMPLATE-3131",  # <site>/templates/secret.html
    "video-b": b"SENTINEL-VIDEO-B-b0b0",  # in every file of private video B
    "passwd": b"root:x:0:0",  # /etc/passwd
}
NAMES = (
    "outside-secret.txt",
    "data-secret.txt",
    "root-secret.txt",
    "secret.txt",
    "secret.html",
    "etc/passwd",
    f"videos/{B}/hls/master.m3u8",
    f"{B}/hls/master.m3u8",
    f"{B}/poster.jpg",
    "source/original.mp4",
    "templates/secret.html",
    "theme.toml",
)
#: (dots, separator) spellings of ``../``.
SPELLINGS = {
    "plain": ("..", "/"),
    "encoded-dots": ("%2e%2e", "/"),
    "encoded": ("%2e%2e", "%2f"),
    "encoded-upper": ("%2E%2E", "%2F"),
    "encoded-slash": ("..", "%2f"),
    "double-encoded": ("%252e%252e", "%252f"),
    "backslash": ("..", "\\"),
    "encoded-backslash": ("..", "%5c"),
    "overlong-utf8": ("%c0%ae%c0%ae", "%c0%af"),
    "overlong-dots": ("%c0%ae%c0%ae", "/"),
    "nul": ("..%00", "/"),
}
MAX_DEPTH = 6


def escapes() -> Iterator[str]:
    """Every spelling of "go up 1..MAX_DEPTH folders, then open one of ``NAMES``"."""
    for dots, sep in SPELLINGS.values():
        for depth in range(1, MAX_DEPTH + 1):
            for name in NAMES:
                yield (dots + sep) * depth + name.replace("/", sep)


def absolutes(outside: Path) -> list[str]:
    plain = [str(outside / "outside-secret.txt"), "/etc/passwd"]
    return [
        *(p.lstrip("/") for p in plain),  # (after the prefix's own slash: "//etc/passwd")
        *plain,
        *(p.replace("/", "%2f") for p in plain),
        *(p.replace("/", "%252f") for p in plain),
        *(p.replace("/", "\\") for p in plain),
        *(p.replace("/", "%5c") for p in plain),
        "hls/master.m3u8%00.jpg",
        "poster.jpg%00",
        "hls/master.m3u8%0a",
        "hls/./master.m3u8",
        "hls/%2e/master.m3u8",
        f"hls/../../{B}/hls/master.m3u8",
        "source/original.mp4",
        "secret.txt",
        "C:%5cwindows%5cwin.ini",
        "file:%2f%2f%2fetc%2fpasswd",
    ]


def leaked(data: bytes) -> list[str]:
    return [name for name, marker in SENTINELS.items() if marker in data]


def plant_sentinels(tmp: Path, data: Path, site: Path) -> None:
    (tmp / "outside-secret.txt").write_bytes(SENTINELS["outside"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "data-secret.txt").write_bytes(SENTINELS["data"])
    media = data / "media"
    (media / "videos").mkdir(parents=True, exist_ok=True)
    (media / "root-secret.txt").write_bytes(SENTINELS["root"])
    (media / "videos" / "secret.txt").write_bytes(SENTINELS["videos"])
    (site / "static" / "js").mkdir(parents=True)
    (site / "templates").mkdir()
    (site / "static" / "site.css").write_text("/* the site's own stylesheet */")
    (site / "secret.txt").write_bytes(SENTINELS["site"])
    (site / "templates" / "secret.html").write_bytes(SENTINELS["template"])


async def fill_videos(rt: Runtime) -> None:
    """Video A (unlisted) with its source and a stray file beside its published ones;
    private video B, every file of which holds a sentinel."""
    await add_ready_video(rt, A, privacy=Privacy.UNLISTED)
    await rt.storage.put_bytes(f"videos/{A}/source/original.mp4", SENTINELS["source"])
    await rt.storage.put_bytes(f"videos/{A}/secret.txt", SENTINELS["beside"])
    await add_ready_video(rt, B, privacy=Privacy.PRIVATE)
    for rel, data in FILES.items():
        await rt.storage.put_bytes(f"videos/{B}/{rel}", data + SENTINELS["video-b"])


# -- through the test client ---------------------------------------------------------------


@dataclass
class Site:
    app: Quart
    rt: Runtime
    tmp: Path
    anonymous: Any
    uploader: Any
    token: str  # "~<expires>.<signature>": video A's media link token

    async def expect_404(self, client: Any, path: str, method: str = "GET", **kw: Any) -> None:
        response = await client.open(path, method=method, **kw)
        body = await response.get_data()
        everything = body + str(response.headers).encode()
        assert leaked(everything) == [], (method, path)
        assert response.status_code == 404, (method, path, response.status_code, body[:200])


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    from streamforge.app import create_app

    site_dir = tmp_path / "site"
    settings = make_settings(tmp_path, STREAMFORGE_THEMES__OVERRIDE_DIR=str(site_dir))
    plant_sentinels(tmp_path, settings.data_dir, site_dir)
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt = app.extensions["streamforge"].runtime
        await fill_videos(rt)
        _, admin_token = await make_account(rt.db, "admin", Role.ADMIN)
        _, uploader_token = await make_account(rt.db, "uploader", Role.UPLOADER)
        body = await (await bearer_client(app, admin_token).get(f"/api/v1/videos/{A}")).get_json()
        token = body["hls_url"].split("/")[3]
        assert token.startswith("~")
        yield Site(app, rt, tmp_path, app.test_client(), bearer_client(app, uploader_token), token)


def media_prefixes(token: str) -> list[str]:
    return [
        f"/media/{A}/",
        f"/media/{A}/hls/",
        f"/media/{A}/hls/360p/",
        f"/media/{A}/thumbs/",
        f"/media/{A}/{token}/",
        f"/media/{A}/{token}/hls/360p/",
        f"/media/{A}/{token}/thumbs/",
    ]


async def test_the_legitimate_files_open(site: Site) -> None:
    """The refusals below are not a broken setup: these same clients get real files."""
    for path in (
        f"/media/{A}/{site.token}/hls/master.m3u8",
        f"/media/{A}/{site.token}/thumbs/sprite_000.jpg",
        f"/media/{A}/hls/360p/seg_00000.m4s",
        "/static/site.css",
        "/static/style.css",
        "/docs/assets/swagger-ui.css",
    ):
        response = await site.anonymous.get(path)
        assert response.status_code == 200, path
        assert leaked(await response.get_data()) == [], path


@pytest.mark.parametrize("where", ["media", "media-with-token"])
async def test_media_routes(site: Site, where: str) -> None:
    prefixes = [p for p in media_prefixes(site.token) if ("/~" in p) == (where != "media")]
    for prefix in prefixes:
        for rel in [*escapes(), *absolutes(site.tmp)]:
            await site.expect_404(site.anonymous, prefix + rel)
        await site.expect_404(site.anonymous, prefix + "x", method="HEAD")


async def test_escaping_through_the_video_id(site: Site) -> None:
    for escape in escapes():
        await site.expect_404(site.anonymous, f"/media/{escape}/hls/master.m3u8")
        await site.expect_404(site.anonymous, f"/media/{A}%2f{escape}")
    for absolute in absolutes(site.tmp):
        await site.expect_404(site.anonymous, f"/media/{absolute}")


async def test_a_token_of_one_video_never_opens_another(site: Site) -> None:
    token = site.token
    for rel in FILES:
        for path in (
            f"/media/{B}/{token}/{rel}",  # A's token on B's URL
            f"/media/{B}/{rel}",  # no token at all
            f"/media/{A}/{token}/../../{B}/{rel}",
            f"/media/{A}/{token}/%2e%2e%2f%2e%2e%2f{B}%2f{rel}",
            f"/media/{A}/{token}/hls/..%2f..%2f..%2f{B}/{rel}",
            f"/media/{A}/{token}%2f..%2f..%2f{B}/{rel}",
            f"/media/{A}/{token[:-1]}%2f..%2f{B}/{rel}",
            f"/media/{A}/~{B}/{rel}",
            f"/media/{B}/~{token[1:]}%00/{rel}",
            f"/media/{A}/{token}/{B}/{rel}",
            f"/media/{A}/{token}/videos/{B}/{rel}",
        ):
            await site.expect_404(site.anonymous, path)
    # tokens that are not ASCII once decoded (this was a 500: compare_digest raised)
    for bad in ("~99999999999.%c3%a9", "~99999999999.%c0%ae", "~%d9%a1%d9%a2.x", "~9" * 6):
        await site.expect_404(site.anonymous, f"/media/{A}/{bad}/hls/master.m3u8")


@pytest.mark.parametrize("prefix", ["/static/", "/static/js/", "/docs/assets/"])
async def test_static_and_docs_assets(site: Site, prefix: str) -> None:
    for rel in [*escapes(), *absolutes(site.tmp)]:
        await site.expect_404(site.anonymous, prefix + rel)


async def test_upload_routes_that_take_an_id(site: Site) -> None:
    tus = {"Tus-Resumable": "1.0.0"}
    chunk = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    ids = [*(e for e in escapes() if "passwd" in e or "secret" in e), *absolutes(site.tmp)]
    for upload_id in ids:
        path = f"/api/v1/uploads/{upload_id}"
        for method, headers in (("HEAD", tus), ("GET", tus), ("DELETE", tus)):
            await site.expect_404(site.uploader, path, method=method, headers=headers)
        await site.expect_404(site.uploader, path, method="PATCH", headers=chunk, data=b"x")
        direct = f"/api/v1/uploads/s3/{upload_id}"
        await site.expect_404(site.uploader, direct, method="DELETE")
        await site.expect_404(site.uploader, direct + "/parts")
        await site.expect_404(
            site.uploader, direct + "/sign", method="POST", json={"part_numbers": [1]}
        )
        await site.expect_404(site.uploader, direct + "/complete", method="POST", json={})
    # nothing was written outside the uploads folder, and no sentinel was touched
    assert (site.tmp / "outside-secret.txt").read_bytes() == SENTINELS["outside"]
    assert (site.rt.settings.data_dir / "data-secret.txt").read_bytes() == SENTINELS["data"]


def test_storage_keys_refuse_every_escape() -> None:
    """The rule every backend applies to every key (``validate_key``)."""
    for bad in (
        "../x",
        "a/../b",
        "a/./b",
        "/etc/passwd",
        "a\\..\\b",
        "a\0b",
        "a//b",
        "a/",
        ".hidden",
        "a\n",  # (let through before: re.match's "$" matches before a final newline)
        "poster.jpg\n",
        "a\n/b",
        "%2e%2e/x",
        "\uff0e\uff0e/x",  # fullwidth dots
        "C:\\x",
    ):
        with pytest.raises(InvalidKey):
            validate_key(bad)
    assert validate_key(f"videos/{A}/hls/360p/seg_00000.m4s")


# -- against a real server, raw bytes on a socket ------------------------------------------


def raw_request(url: str, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    """Send ``target`` exactly as given; the status and everything that came back."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 30) as s:
        head = b"Host: localhost\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n"
        s.sendall(method + b" " + target + b" HTTP/1.1\r\n" + head)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer


def raw_targets(token: str, outside: Path) -> list[bytes]:
    raw_escapes = [
        b"../" * 3 + b"root-secret.txt",
        b"../" * 4 + b"data-secret.txt",
        b"../" * 5 + b"outside-secret.txt",
        b"../" * 2 + b"secret.txt",
        b"../" * 8 + b"etc/passwd",
        b"..\\" * 4 + b"data-secret.txt",
        b"../../" + B.encode() + b"/hls/master.m3u8",
        b"\xc0\xae\xc0\xae/" * 4 + b"data-secret.txt",  # raw overlong UTF-8
        b"..\x00/" * 3 + b"root-secret.txt",  # raw NUL
        b"source/original.mp4",
        str(outside / "outside-secret.txt").encode(),
    ]
    prefixes = [
        f"/media/{A}/".encode(),
        f"/media/{A}/hls/".encode(),
        f"/media/{A}/{token}/".encode(),
        f"/media/{A}/{token}/hls/360p/".encode(),
        b"/static/",
        b"/static/js/",
        b"/docs/assets/",
        b"/api/v1/uploads/",
    ]
    targets = [p + e for p in prefixes for e in raw_escapes]
    targets += [
        b"/../" * 6 + b"etc/passwd",
        b"../../etc/passwd",  # not even starting with "/"
        b"http://localhost/media/" + A.encode() + b"/../../../root-secret.txt",  # absolute-form
        f"/media/{B}/{token}/hls/master.m3u8".encode(),
        f"/media/{A}/{token}/../../{B}/hls/master.m3u8".encode(),
        f"/media/{A}/{token}/..%2f..%2f{B}%2fhls%2fmaster.m3u8".encode(),
    ]
    return targets


@pytest.mark.slow
def test_raw_requests_to_a_real_server(tmp_path: Path) -> None:
    import asyncio

    from tests.e2e.cli import running_server, write_config

    site_dir = tmp_path / "site"
    config = write_config(tmp_path, f'[themes]\noverride_dir = "{site_dir}"\n')
    plant_sentinels(tmp_path, tmp_path / "data", site_dir)
    asyncio.run(add_ready_video_to(config, A, privacy=Privacy.UNLISTED))
    asyncio.run(add_ready_video_to(config, B, privacy=Privacy.PRIVATE))
    media = tmp_path / "data" / "media" / "videos"
    for rel in FILES:
        with (media / B / rel).open("ab") as f:
            f.write(SENTINELS["video-b"])
    (media / A / "source").mkdir()
    (media / A / "source" / "original.mp4").write_bytes(SENTINELS["source"])
    (media / A / "secret.txt").write_bytes(SENTINELS["beside"])
    with running_server(config) as server:
        token = server.json(f"/api/v1/videos/{A}")["hls_url"].split("/")[3]
        ok, answer = raw_request(server.url, f"/media/{A}/{token}/hls/master.m3u8".encode())
        assert ok == 200
        assert answer.endswith(FILES["hls/master.m3u8"])
        found: dict[bytes, int] = {}
        for target in raw_targets(token, tmp_path):
            for method in (b"GET", b"HEAD"):
                status, answer = raw_request(server.url, target, method)
                assert leaked(answer) == [], target
                found[target] = status
        # 400: Hypercorn refuses a request target that is not ASCII (a raw NUL, raw UTF-8)
        expected = {t: 404 if t.isascii() and b"\x00" not in t else 400 for t in found}
        assert found == expected
