"""Turning a stored source into published HLS: plan, run the sandboxed child, publish.

Publishing is ordered so a player never sees a half-made video: files are uploaded under the
video's prefix first (playlists last), then ONE transaction flips the video to ``ready``
with its renditions, fenced by the job's lease token.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import delete

from streamforge.config import Settings
from streamforge.db.models import Rendition, Video, VideoStatus
from streamforge.encoders import Encoder
from streamforge.errors import MediaError, MediaRefused
from streamforge.events import make_event
from streamforge.jobs import store
from streamforge.library.encoding import select_encoder, software_encoder
from streamforge.library.videos import get_video, video_prefix
from streamforge.media import ladder, sandbox
from streamforge.media.types import (
    Limits,
    ProbeResult,
    Progress,
    Rung,
    RungPlan,
    TranscodePlan,
    TranscodeResult,
)
from streamforge.plugins import call_hook
from streamforge.runtime import Runtime

log = logging.getLogger(__name__)

OUTPUT_DIRS = ("hls/", "thumbs/")
#: Published last, in this order: their presence means every other file is in place.
LAST_FILES = ("hls/manifest.json", "hls/master.m3u8")


def limits_from(settings: Settings) -> Limits:
    t = settings.transcode
    return Limits(
        max_pixels=t.max_width * t.max_height,
        max_duration=t.max_duration,
        max_streams=t.max_streams,
        max_output_bytes=t.max_output_bytes,
        memory_bytes=t.memory_limit_mb * 1024 * 1024,
        cpu_seconds=int(t.time_limit * 2) + 60,
        wall_seconds=t.time_limit,
    )


def configured_rungs(settings: Settings) -> list[Rung]:
    return [
        Rung(
            name=r.name,
            width=0,
            height=r.height,
            video_bitrate=r.video_bitrate,
            audio_bitrate=r.audio_bitrate,
        )
        for r in settings.transcode.ladder
    ]


async def plan_transcode(
    rt: Runtime,
    video_id: str,
    probe: ProbeResult,
    source: Path,
    output_dir: Path,
    encoder: Encoder,
) -> TranscodePlan:
    settings = rt.settings
    rungs, frame_rate = ladder.plan_ladder(
        probe, configured_rungs(settings), max_frame_rate=settings.transcode.max_frame_rate
    )
    for replaced in await call_hook(
        rt.registry.pm, "transcode_ladder", video_id=video_id, probe=probe, rungs=list(rungs)
    ):
        rungs = list(replaced)  # the last plugin registered wins
    if not rungs:
        raise MediaError("the transcode_ladder hook removed every rung; nothing to produce")
    return build_plan(settings, rungs, frame_rate, source, output_dir, encoder)


def build_plan(
    settings: Settings,
    rungs: list[Rung],
    frame_rate: float,
    source: Path,
    output_dir: Path,
    encoder: Encoder,
) -> TranscodePlan:
    """The plan for the media child: the encoder's settings per rung, the config's limits."""
    gop = max(1, round(frame_rate * settings.transcode.segment_seconds))
    return TranscodePlan(
        source=str(source),
        output_dir=str(output_dir),
        rungs=[
            RungPlan(rung=r, encoding=encoder.encoding(r, frame_rate=frame_rate, gop=gop))
            for r in rungs
        ],
        frame_rate=frame_rate,
        segment_seconds=settings.transcode.segment_seconds,
        thumbnail_interval=settings.transcode.thumbnail_interval,
        limits=limits_from(settings),
    )


ProgressFn = Callable[[Progress], Awaitable[None]]


async def transcode_source(
    rt: Runtime,
    claim: store.Claim,
    scratch: Path,
    on_progress: ProgressFn,
    cancel: asyncio.Event,
) -> tuple[ProbeResult, TranscodeResult]:
    """Fetch the source to scratch (unless storage is local), probe it, transcode it."""
    async with rt.db.session() as s:
        video = await get_video(s, claim.video_id)
        source_key = video.source_key
    if not source_key:
        raise MediaError("this video has no stored source file")
    source = rt.storage.local_path(source_key)
    if source is None or not source.is_file():
        source = scratch / "source"
        await rt.storage.download(source_key, source)
    limits = limits_from(rt.settings)
    await on_progress(Progress(percent=0.0, stage="probe"))
    probe = await sandbox.probe(str(source), limits, cancel)
    output_dir = scratch / "out"
    encoder = select_encoder(rt.registry)
    try:
        result = await _run_plan(rt, claim, probe, source, output_dir, encoder, on_progress,
                                 cancel)  # fmt: skip
    except MediaRefused:
        raise
    except MediaError as exc:
        if not encoder.hardware or cancel.is_set():
            raise
        fallback = software_encoder(rt.registry)
        message = (
            f"hardware encoder {encoder.name} failed ({exc}); "
            f"transcoding with {fallback.name} instead"
        )
        log.warning("video %s: %s", claim.video_id, message)
        rt.events.publish(make_event("video.warning", claim.video_id, message=message))
        result = await _run_plan(rt, claim, probe, source, output_dir, fallback, on_progress,
                                 cancel)  # fmt: skip
    return probe, result


async def _run_plan(
    rt: Runtime,
    claim: store.Claim,
    probe: ProbeResult,
    source: Path,
    output_dir: Path,
    encoder: Encoder,
    on_progress: ProgressFn,
    cancel: asyncio.Event,
) -> TranscodeResult:
    clean_scratch(output_dir)
    output_dir.mkdir()
    plan = await plan_transcode(rt, claim.video_id, probe, source, output_dir, encoder)
    return await sandbox.transcode(plan, on_progress, cancel=cancel)


async def upload_outputs(rt: Runtime, video_id: str, output_dir: Path, files: list[str]) -> None:
    prefix = video_prefix(video_id)
    for sub in OUTPUT_DIRS:  # leftovers of an earlier, interrupted attempt
        await rt.storage.delete_prefix(prefix + sub)
    ordered = [f for f in files if f not in LAST_FILES] + [f for f in LAST_FILES if f in files]
    for rel in ordered:
        await rt.storage.put_file(prefix + rel, output_dir / rel)


async def publish(
    rt: Runtime, claim: store.Claim, probe: ProbeResult, result: TranscodeResult
) -> bool:
    """Flip the video to ready with its renditions, in one transaction. False if fenced out."""
    async with rt.db.session() as s:
        if not await store.succeed(s, claim):
            await s.rollback()
            return False
        video = await s.get(Video, claim.video_id)
        if video is None:
            return False
        await s.execute(delete(Rendition).where(Rendition.video_id == video.id))
        for r in result.renditions:
            s.add(
                Rendition(
                    video_id=video.id,
                    name=r.name,
                    width=r.width,
                    height=r.height,
                    bandwidth=r.bandwidth,
                    average_bandwidth=r.average_bandwidth,
                    codecs=r.codecs,
                    frame_rate=r.frame_rate,
                    playlist=r.playlist,
                )
            )
        video.status = VideoStatus.READY
        video.progress = 100.0
        video.error = None
        video.duration = result.duration
        video.width = probe.width
        video.height = probe.height
        video.outputs = {
            "master": result.master_playlist,
            "manifest": result.manifest,
            "thumbnails": result.thumbnails_vtt,
            "poster": result.poster,
        }
        video.ready_at = store.now()
    return True


def clean_scratch(scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)


async def sweep_scratch(rt: Runtime) -> int:
    """Remove this machine's scratch folders (``<job id>-<attempt>``) of attempts that no
    longer run: a killed runner's leftovers, whichever machine retried or gave up its job.
    Folders are listed before the database is asked, and a runner makes its folder only
    after its claim committed, so a starting attempt's folder is never taken."""
    found: dict[Path, tuple[str, int]] = {}
    for path in (rt.settings.data_dir / "scratch").glob("*-*"):
        job_id, _, attempt = path.name.rpartition("-")
        if attempt.isdigit():
            found[path] = (job_id, int(attempt))
    if not found:
        return 0
    running = await store.running_attempts(rt.db, {job_id for job_id, _ in found.values()})
    stale = [path for path, (job_id, n) in found.items() if running.get(job_id) != n]
    for path in stale:
        clean_scratch(path)
    return len(stale)
