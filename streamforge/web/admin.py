"""The admin area: the ``/admin`` page and the job API it uses (``/api/v1/jobs``).

Everything an administrator may do lives in this one blueprint, behind one
``before_request`` check (:func:`streamforge.web.access.require_admin`): administrators
only (anonymous visitors are sent to the login form).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from quart import Blueprint, request
from quart_schema import validate_response

from streamforge.db.models import JobState
from streamforge.errors import InvalidRequest
from streamforge.jobs.service import queue_job
from streamforge.library import admin
from streamforge.library.notify import announce_queued
from streamforge.web.access import require_admin
from streamforge.web.pages import render_page
from streamforge.web.state import app_state, runtime

blueprint = Blueprint("admin", __name__)
JOBS_PER_PAGE = 50


@blueprint.before_request
async def only_administrators() -> None:
    await require_admin()


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str | None


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    video_id: str
    state: JobState
    attempts: int
    max_attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    history: list[AttemptOut]


@blueprint.get("/admin")
async def admin_page() -> str:
    raw_state = request.args.get("state") or None
    try:
        state = JobState(raw_state) if raw_state else None
    except ValueError:
        raise InvalidRequest(f"state must be one of {', '.join(JobState)}") from None
    rt = runtime()
    async with rt.db.read() as s:
        jobs = await admin.list_jobs(
            s, state=state, cursor=request.args.get("cursor") or None, limit=JOBS_PER_PAGE
        )
    system = await admin.describe_system(rt.registry, rt.db)
    return await render_page(
        "admin.html", jobs=jobs, state=state, states=list(JobState), system=system
    )


@blueprint.post("/api/v1/jobs/<job_id>/retry")
@validate_response(JobOut)
async def retry_job(job_id: str) -> JobOut:
    """Retry a failed job: queued again, with a fresh set of ``[jobs] max_attempts`` tries.

    Its video goes back to ``queued``; the attempt history is kept and grows.
    """
    rt = runtime()
    video_id = await admin.retry_job(rt.db, job_id, attempts=rt.settings.jobs.max_attempts)
    async with rt.db.read() as s:
        job = JobOut.model_validate(await admin.get_job(s, job_id))
    # before the job can start, so pages never see "queued" after "processing"
    await announce_queued(rt, video_id, reason="requeued")
    host = app_state().jobs
    if host is not None:
        await queue_job(host, rt, job_id)
    return job
