"""Direct-to-S3 multipart uploads under ``/api/v1/uploads/s3`` (when storage supports it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint
from quart_schema import validate_request, validate_response

from streamforge.db.models import Privacy
from streamforge.jobs.service import queue_job
from streamforge.library import direct_uploads as service
from streamforge.library.notify import announce_uploaded
from streamforge.web import access
from streamforge.web.state import app_state, runtime

blueprint = Blueprint("direct_uploads", __name__, url_prefix="/api/v1/uploads/s3")


class CreateDirect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(gt=0, description="total bytes of the file")
    content_type: str = Field("application/octet-stream", max_length=100)
    title: str | None = Field(None, max_length=200)
    privacy: Privacy = Privacy.PUBLIC


class DirectOut(BaseModel):
    id: str
    size: int
    part_size: int = Field(description="bytes per part; the last part holds the rest")
    part_count: int
    video_id: str | None


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part_numbers: list[int] = Field(min_length=1, max_length=service.MAX_SIGN_AT_ONCE)


class SignedPart(BaseModel):
    number: int
    url: str = Field(description="PUT the part's bytes here (with a Content-Type header)")


class SignedParts(BaseModel):
    parts: list[SignedPart]


class PartOut(BaseModel):
    number: int
    size: int
    etag: str


class PartsOut(BaseModel):
    upload: DirectOut
    parts: list[PartOut]


class Completed(BaseModel):
    id: str
    video_id: str


def _out(upload: service.DirectUpload) -> DirectOut:
    return DirectOut(
        id=upload.id,
        size=upload.size,
        part_size=upload.part_size,
        part_count=upload.part_count,
        video_id=upload.video_id,
    )


@blueprint.post("")
@validate_request(CreateDirect)
@validate_response(DirectOut, 201)
async def create(data: CreateDirect) -> tuple[DirectOut, int]:
    """Start a direct upload: the server picks the part size (10 MB, raised for huge files)."""
    account = await access.require_upload()
    rt = runtime()
    upload = await service.create(
        rt.db,
        rt.storage,
        rt.settings,
        filename=data.filename,
        size=data.size,
        content_type=data.content_type,
        title=data.title,
        owner_id=account.id,
        privacy=data.privacy,
    )
    return _out(upload), 201


async def _mine(upload_id: str) -> None:
    await access.require_upload_owner(await service.owner_of(runtime().db, upload_id), upload_id)


@blueprint.post("/<upload_id>/sign")
@validate_request(SignRequest)
@validate_response(SignedParts)
async def sign(upload_id: str, data: SignRequest) -> SignedParts:
    """Presigned PUT URLs for some parts."""
    await _mine(upload_id)
    rt = runtime()
    signed = await service.sign_parts(rt.db, rt.storage, rt.settings, upload_id, data.part_numbers)
    return SignedParts(parts=[SignedPart(number=n, url=u) for n, u in signed])


@blueprint.get("/<upload_id>/parts")
@validate_response(PartsOut)
async def parts(upload_id: str) -> PartsOut:
    """The parts the storage has received (to resume after a reload)."""
    await _mine(upload_id)
    rt = runtime()
    upload, received = await service.list_parts(rt.db, rt.storage, upload_id)
    return PartsOut(
        upload=_out(upload),
        parts=[PartOut(number=p.number, size=p.size, etag=p.etag) for p in received],
    )


@blueprint.post("/<upload_id>/complete")
@validate_response(Completed)
async def complete(upload_id: str) -> Completed:
    """Check the parts (count and total size), assemble them, and queue the video."""
    await _mine(upload_id)
    rt = runtime()
    imported = await service.complete(rt.db, rt.storage, rt.settings, upload_id)
    host = app_state().jobs
    if host is not None:
        await queue_job(host, rt, imported.job_id)
    await announce_uploaded(rt, imported.video_id)
    return Completed(id=upload_id, video_id=imported.video_id)


@blueprint.delete("/<upload_id>")
async def abort(upload_id: str) -> tuple[str, int]:
    """Abandon a direct upload and free its parts."""
    await _mine(upload_id)
    rt = runtime()
    await service.abort(rt.db, rt.storage, upload_id)
    return "", 204
