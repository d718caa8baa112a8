"""A throwaway plugin implementing every hook; the tests drop it into a plugins folder.

Each call is appended as one JSON line to the file named by ``$EVERYTHING_LOG``, so a
test can check what a separate server process called.
"""

from __future__ import annotations

import json
import os
from typing import Any

from quart import Blueprint

from streamforge.config import PluginConfig
from streamforge.encoders import Encoder
from streamforge.hookspecs import hookimpl
from streamforge.media.types import Rung, VideoEncoding
from streamforge.notifiers import Notifier
from streamforge.storage import StorageBackend


def record(hook: str, **data: Any) -> None:
    path = os.environ.get("EVERYTHING_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"hook": hook, **data}, default=str) + "\n")


class MemoryNotifier(Notifier):
    name = "everything"
    events = frozenset({"video.ready", "video.failed", "video.uploaded", "video.deleted"})

    async def notify(self, event: dict[str, Any]) -> None:
        record("notify", type=event["type"], video_id=event["video_id"])


class NullEncoder(Encoder):
    """Registered to prove the hook works; never usable (its codec does not exist)."""

    name = "everything-null"
    codec = "no_such_encoder"

    def encoding(self, rung: Rung, *, frame_rate: float, gop: int) -> VideoEncoding:
        return VideoEncoding(codec=self.codec)


class NullStorageConfig(PluginConfig):
    pass


@hookimpl
def register_storage_backends() -> list[type[StorageBackend]]:
    record("register_storage_backends")
    return []


@hookimpl
def register_encoders() -> list[type[Encoder]]:
    return [NullEncoder]


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [MemoryNotifier]


@hookimpl
def startup(settings: Any) -> None:
    record("startup", data_dir=str(settings.data_dir))


@hookimpl
async def video_uploaded(video: dict[str, Any]) -> None:
    record("video_uploaded", video_id=video["id"])


@hookimpl
async def video_ready(video: dict[str, Any]) -> None:
    record("video_ready", video_id=video["id"], status=video["status"], hls_url=video["hls_url"])


@hookimpl
def video_failed(video: dict[str, Any], error: str, final: bool) -> None:
    record("video_failed", video_id=video["id"], error=error, final=final)


@hookimpl
def video_deleted(video_id: str) -> None:
    record("video_deleted", video_id=video_id)


hello = Blueprint("everything", __name__)


@hello.get("/hello-plugin")
async def hello_route() -> dict[str, str]:
    return {"hello": "from a plugin"}


@hookimpl
def register_routes(app: Any) -> list[Blueprint]:
    return [hello]


@hookimpl
def extra_template_vars(template: str) -> dict[str, Any]:
    return {"site_name": "Everything Tube"}


@hookimpl
def transcode_ladder(video_id: str, probe: Any, rungs: list[Rung]) -> list[Rung] | None:
    record("transcode_ladder", video_id=video_id, rungs=[r.name for r in rungs])
    return None
