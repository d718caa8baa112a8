"""The tus 1.0 endpoint at ``/api/v1/uploads``: protocol parsing here, state changes in
:mod:`streamforge.library.uploads`.

Extensions: creation, creation-with-upload, termination, checksum, expiration. PATCH bodies
are streamed to disk as they arrive, never read whole.
"""

from __future__ import annotations

import base64
import binascii
from email.utils import format_datetime
from typing import Any

from quart import Blueprint, Quart, Response, current_app, request
from werkzeug.datastructures import Headers

from streamforge.db.models import UploadSession
from streamforge.jobs.service import queue_job
from streamforge.library import uploads
from streamforge.library.notify import announce_uploaded
from streamforge.library.uploads import CHECKSUMS, Checksum, UploadRejected, Writers
from streamforge.library.videos import Imported
from streamforge.metrics import counted_upload
from streamforge.web import access
from streamforge.web.bodies import BodyLimit
from streamforge.web.errors import error_body
from streamforge.web.state import app_state, runtime

PREFIX = "/api/v1/uploads"
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"
VIDEO_ID_HEADER = "StreamForge-Video-Id"
WRITERS = "streamforge.upload_writers"
MAX_METADATA_HEADER = 16 * 1024

blueprint = Blueprint("tus", __name__, url_prefix=PREFIX)


def _is_chunk(method: str, path: str, headers: Headers) -> bool:
    under_tus = path == PREFIX or path.startswith(PREFIX + "/")
    mimetype = headers.get("Content-Type", "").split(";")[0].strip().lower()
    return under_tus and mimetype == OFFSET_STREAM


#: tus chunks are streamed to disk: the upload's own limits apply, not the app-wide one.
BODY_LIMIT = BodyLimit(_is_chunk, None)


def install(app: Quart) -> None:
    """Serve tus on ``app``: the writer registry, the blueprint (the body limit is
    :data:`BODY_LIMIT`, applied by the app's request class)."""
    app.extensions[WRITERS] = Writers()
    app.register_blueprint(blueprint)


def writers_of(app: Quart) -> Writers:
    found: Writers = app.extensions[WRITERS]
    return found


# -- protocol parsing ----------------------------------------------------------------------


def _bad(message: str) -> UploadRejected:
    return UploadRejected(400, "invalid_request", message)


def _require_tus() -> None:
    version = request.headers.get("Tus-Resumable")
    if version != TUS_VERSION:
        found = "missing" if version is None else f"{version!r}"
        raise UploadRejected(
            412,
            "unsupported_tus_version",
            f"Tus-Resumable must be {TUS_VERSION} (found {found})",
        )


def _int_header(name: str) -> int:
    value = request.headers.get(name)
    if value is None:
        raise _bad(f"the {name} header is required")
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise _bad(f"{name} must be a non-negative integer, found {value[:40]!r}")
    return int(value)


def parse_metadata(header: str) -> dict[str, str]:
    """``key base64,key base64,key`` into a dict of decoded UTF-8 values."""
    if len(header) > MAX_METADATA_HEADER:
        raise _bad(f"Upload-Metadata is longer than {MAX_METADATA_HEADER} characters")
    meta: dict[str, str] = {}
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if not key or key in meta:
            raise _bad(f"Upload-Metadata has an empty or repeated key in {pair[:40]!r}")
        try:
            meta[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _bad(
                f"Upload-Metadata value of {key[:40]!r} is not base64-encoded UTF-8"
            ) from None
    return meta


def parse_checksum(header: str | None) -> Checksum | None:
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise _bad(
            f"Upload-Checksum algorithm {algorithm[:20]!r} is not supported "
            f"(use {', '.join(CHECKSUMS)})"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise _bad("Upload-Checksum digest is not valid base64") from None
    if len(digest) != CHECKSUMS[algorithm]().digest_size:
        raise _bad(f"Upload-Checksum digest has the wrong length for {algorithm}")
    return Checksum(algorithm, digest)


def _require_offset_stream() -> None:
    if request.mimetype != OFFSET_STREAM:
        raise UploadRejected(
            415,
            "unsupported_media_type",
            f"Content-Type must be {OFFSET_STREAM} (found {request.mimetype or 'none'!r})",
        )


def _has_body() -> bool:
    """Whether a POST carries a first chunk (creation-with-upload)."""
    if request.mimetype == OFFSET_STREAM:
        return True
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if chunked or (request.content_length or 0) > 0:
        _require_offset_stream()  # raises: a body of another type
    return False


def _location(upload_id: str) -> str:
    # never built from the Host header: a forged Host must not steer clients elsewhere
    return f"{runtime().settings.public_url}{PREFIX}/{upload_id}"


def _state_headers(upload: UploadSession) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
    }
    if upload.completed_at is None and upload.expires_at is not None:
        headers["Upload-Expires"] = format_datetime(upload.expires_at, usegmt=True)
    if upload.video_id:
        headers[VIDEO_ID_HEADER] = upload.video_id
    return headers


def _empty(status: int, headers: dict[str, str]) -> Response:
    return Response(b"", status=status, headers=headers)


async def _queue(imported: Imported) -> None:
    """Hand a finished upload's job to the job host and tell everyone it arrived."""
    rt = runtime()
    host = app_state().jobs
    if host is not None:
        await queue_job(host, rt, imported.job_id)
    await announce_uploaded(rt, imported.video_id)


async def _mine(upload_id: str) -> None:
    """Only the account that created an upload (or an admin) may touch it."""
    upload = await uploads.get_upload(runtime().db, upload_id)
    await access.require_upload_owner(upload.owner_id, upload_id)


async def _append(upload_id: str, offset: int) -> UploadSession:
    rt = runtime()
    with writers_of(current_app).hold(upload_id):
        done = await uploads.append(
            rt.db,
            rt.storage,
            rt.settings,
            upload_id,
            offset=offset,
            body=counted_upload(request.body),
            content_length=request.content_length,
            checksum=parse_checksum(request.headers.get("Upload-Checksum")),
        )
    if done.imported is not None:
        await _queue(done.imported)
    return done.upload


# -- views ---------------------------------------------------------------------------------


@blueprint.after_request
async def _tus_resumable(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    return response


@blueprint.errorhandler(UploadRejected)
async def _rejected(exc: UploadRejected) -> Any:
    headers = {"Tus-Version": TUS_VERSION} if exc.status == 412 else {}
    return error_body(exc.status, exc.code, str(exc)), exc.status, headers


@blueprint.route("", methods=["OPTIONS"])
@blueprint.route("/<upload_id>", methods=["OPTIONS"])
async def options(upload_id: str | None = None) -> Response:
    """What this tus server supports (no Tus-Resumable needed)."""
    return _empty(
        204,
        {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
            "Tus-Max-Size": str(runtime().settings.uploads.max_size),
        },
    )


@blueprint.post("")
async def create() -> Response:
    """Create an upload (tus creation); a body is its first chunk (creation-with-upload)."""
    _require_tus()
    if "Upload-Concat" in request.headers:
        raise _bad("Upload-Concat is not supported (no concatenation extension)")
    if "Upload-Defer-Length" in request.headers:
        raise _bad("Upload-Defer-Length is not supported: send Upload-Length")
    length = _int_header("Upload-Length")
    meta = parse_metadata(request.headers.get("Upload-Metadata", ""))
    with_body = _has_body()
    if with_body and (request.content_length or 0) > length:
        raise UploadRejected(
            413,
            "chunk_too_large",
            f"the request carries {request.content_length} bytes, more than Upload-Length {length}",
        )
    account = await access.require_upload()
    rt = runtime()
    upload = await uploads.create_upload(
        rt.db, rt.settings, length=length, meta=meta, owner_id=account.id
    )
    if with_body:
        try:
            upload = await _append(upload.id, 0)
        except UploadRejected:
            # a refused first chunk (408, 413, 460) leaves nothing behind: its client never
            # learnt the upload's address, so it starts over
            await uploads.terminate(rt.db, rt.settings, upload.id)
            raise
    return _empty(201, {"Location": _location(upload.id), **_state_headers(upload)})


@blueprint.route("/<upload_id>", methods=["GET", "HEAD"])
async def status(upload_id: str) -> Any:
    """HEAD: the tus offset. GET: the upload as JSON, with its video id once complete."""
    if request.method == "HEAD":
        _require_tus()
    rt = runtime()
    upload = await uploads.get_upload(rt.db, upload_id)
    await access.require_upload_owner(upload.owner_id, upload_id)
    writers = writers_of(current_app)
    if writers.try_acquire(upload_id):  # never cut a file another request is writing
        try:
            upload = await uploads.sync_part(rt.db, rt.settings, upload_id)
        finally:
            writers.release(upload_id)
    body = {
        "id": upload.id,
        "offset": upload.offset,
        "length": upload.length,
        "complete": upload.completed_at is not None,
        "video_id": upload.video_id,
        "expires_at": upload.expires_at.isoformat() if upload.expires_at else None,
        "filename": (upload.meta or {}).get("filename"),
    }
    return body, 200, _state_headers(upload)


@blueprint.patch("/<upload_id>")
async def patch(upload_id: str) -> Response:
    """Append the body at Upload-Offset (tus core; checksum extension)."""
    _require_tus()
    _require_offset_stream()
    offset = _int_header("Upload-Offset")
    await _mine(upload_id)
    upload = await _append(upload_id, offset)
    return _empty(204, _state_headers(upload))


@blueprint.delete("/<upload_id>")
async def terminate(upload_id: str) -> Response:
    """Delete an upload and its data (tus termination)."""
    _require_tus()
    await _mine(upload_id)
    rt = runtime()
    with writers_of(current_app).hold(upload_id):
        await uploads.terminate(rt.db, rt.settings, upload_id)
    return _empty(204, {})
