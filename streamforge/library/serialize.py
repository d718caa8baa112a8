"""The public JSON shape of a video (``GET /api/v1/videos/{id}``)."""

from __future__ import annotations

from typing import Any

from streamforge.db.models import Video, VideoStatus


def media_url(base: str, video_id: str, rel: str, token: str | None = None) -> str:
    """URL of a published file ``rel`` (relative to ``videos/<id>/``).

    With a media link ``token`` (a video not open to everyone), the token is a path
    segment, ``/media/<id>/~<token>/<rel>``: the relative URLs inside playlists and the
    manifest then carry it to every segment without rewriting them.
    """
    where = f"~{token}/" if token else ""
    return f"{base}/media/{video_id}/{where}{rel}"


def watch_url(base: str, video_id: str) -> str:
    """URL of a video's page (``/v/<id>``); absolute when ``base`` is."""
    return f"{base}/v/{video_id}"


def video_to_dict(
    video: Video, base_url: str = "", media_token: str | None = None
) -> dict[str, Any]:
    """Serialize a video; ``base_url`` is the public URL or "" for host-relative links;
    ``media_token`` signs its media URLs (see :func:`media_url`)."""
    ready = video.status == VideoStatus.READY
    outputs = video.outputs or {}

    def url(name: str) -> str | None:
        rel = outputs.get(name)
        return media_url(base_url, video.id, rel, media_token) if ready and rel else None

    return {
        "id": video.id,
        "title": video.title,
        "description": video.description,
        "status": video.status.value,
        "progress": round(video.progress, 1),
        "error": video.error,
        "privacy": video.privacy.value,
        "owner_id": video.owner_id,
        "duration": video.duration,
        "width": video.width,
        "height": video.height,
        "created_at": video.created_at.isoformat(),
        "updated_at": video.updated_at.isoformat() if video.updated_at else None,
        "ready_at": video.ready_at.isoformat() if video.ready_at else None,
        "source_filename": video.source_filename,
        "renditions": [
            {
                "name": r.name,
                "width": r.width,
                "height": r.height,
                "bandwidth": r.bandwidth,
                "average_bandwidth": r.average_bandwidth,
                "codecs": r.codecs,
                "frame_rate": r.frame_rate,
                "playlist_url": media_url(base_url, video.id, r.playlist, media_token),
            }
            for r in (video.renditions if ready else [])
        ],
        "hls_url": url("master"),
        "manifest_url": url("manifest"),
        "thumbnails_url": url("thumbnails"),
        "poster_url": url("poster"),
    }
