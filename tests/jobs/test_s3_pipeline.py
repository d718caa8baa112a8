"""A transcode with S3 storage: the worker fetches the source to scratch, uploads outputs."""

from __future__ import annotations

from pathlib import Path

from streamforge.db.models import Video, VideoStatus
from streamforge.jobs import store
from streamforge.jobs.runner import run_transcode
from streamforge.library import videos
from streamforge.runtime import Runtime
from tests.conftest import make_settings
from tests.mediagen import make_clip
from tests.s3server import s3_env, unique_bucket

ONE_RUNG = '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'


async def test_transcode_on_s3_storage(tmp_path: Path, moto_url: str) -> None:
    settings = make_settings(
        tmp_path,
        STREAMFORGE_TRANSCODE__LADDER=ONE_RUNG,
        STREAMFORGE_ENCODERS__X264__PRESET="ultrafast",
        **s3_env(moto_url, unique_bucket(), create_bucket="true"),
    )
    rt = await Runtime.create(settings).open()
    try:
        assert rt.storage.local_path("videos/x/source/a.mp4") is None
        clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=5.0)
        imported = await videos.import_file(rt.db, rt.storage, settings, clip)
        await run_transcode(rt, imported.job_id, store.worker_identity(), lambda *a: None)
        async with rt.db.session() as s:
            video = await s.get(Video, imported.video_id)
            assert video is not None
            assert video.status == VideoStatus.READY, video.error
        keys = await rt.storage.list(f"videos/{imported.video_id}/")
        rel = {k.split("/", 2)[2] for k in keys}
        assert {
            "hls/master.m3u8",
            "hls/manifest.json",
            "hls/144p/init.mp4",
            "hls/144p/playlist.m3u8",
            "thumbs/thumbnails.vtt",
            "poster.jpg",
            "source/clip.mp4",
        } <= rel
        assert sum(k.endswith(".m4s") for k in keys) == 2
        assert not any((settings.data_dir / "scratch").iterdir())  # nothing left behind
    finally:
        await rt.close()
