"""Putting a ready video with known files straight into the database and storage."""

from __future__ import annotations

from pathlib import Path

from streamforge.db.models import Rendition, Video, VideoStatus
from streamforge.runtime import Runtime

SEGMENT = bytes(range(256)) * 64  # 16 KiB of known bytes

FILES = {
    "hls/master.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n",
    "hls/manifest.json": b'{"version": 1}',
    "hls/360p/playlist.m3u8": b"#EXTM3U\n",
    "hls/360p/init.mp4": b"init",
    "hls/360p/seg_00000.m4s": SEGMENT,
    "thumbs/thumbnails.vtt": b"WEBVTT\n",
    "thumbs/sprite_000.jpg": b"\xff\xd8\xff",
    "poster.jpg": b"\xff\xd8\xff",
}


async def add_ready_video(rt: Runtime, video_id: str = "readyvid001", **fields: object) -> str:
    for rel, data in FILES.items():
        await rt.storage.put_bytes(f"videos/{video_id}/{rel}", data)
    async with rt.db.session() as s:
        video = Video(
            id=video_id,
            title=str(fields.pop("title", "A ready video")),
            status=VideoStatus.READY,
            progress=100.0,
            duration=3.0,
            width=640,
            height=360,
            outputs={
                "master": "hls/master.m3u8",
                "manifest": "hls/manifest.json",
                "thumbnails": "thumbs/thumbnails.vtt",
                "poster": "poster.jpg",
            },
            **fields,
        )
        s.add(video)
        s.add(
            Rendition(
                video_id=video_id,
                name="360p",
                width=640,
                height=360,
                bandwidth=900_000,
                average_bandwidth=800_000,
                codecs="avc1.64001e,mp4a.40.2",
                frame_rate=30.0,
                playlist="hls/360p/playlist.m3u8",
            )
        )
    return video_id


async def add_ready_video_to(config: Path, video_id: str, **fields: object) -> str:
    """:func:`add_ready_video` into the data of a config file (before a real ``serve``)."""
    from streamforge.config import load_settings

    rt = await Runtime.create(load_settings(config)).open()
    try:
        return await add_ready_video(rt, video_id, **fields)
    finally:
        await rt.close()


async def add_video(rt: Runtime, video_id: str, status: VideoStatus, **fields: object) -> str:
    async with rt.db.session() as s:
        s.add(Video(id=video_id, title=str(fields.pop("title", video_id)), status=status, **fields))
    return video_id
