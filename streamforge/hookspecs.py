"""The plugin hooks of StreamForge (pluggy project name ``streamforge``).

Hooks are always called with keyword arguments, so a plugin may accept only the arguments
it needs and a new argument never breaks an old plugin. A hook may be a plain function or
an ``async def``: the core awaits results that are awaitable. Never combine ``firstresult``
with async implementations (pluggy cannot await); no hook here uses it.

Each hook is documented in ``docs/plugins.md`` with a runnable example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from quart import Blueprint, Quart

    from streamforge.config import Settings
    from streamforge.encoders import Encoder
    from streamforge.media.types import ProbeResult, Rung
    from streamforge.notifiers import Notifier
    from streamforge.storage import StorageBackend

PROJECT = "streamforge"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration ----------------------------------------------------------------------


@hookspec
def register_storage_backends() -> list[type[StorageBackend]]:  # type: ignore[empty-body]
    """Return StorageBackend classes; ``[storage] backend`` picks one by its ``name``."""


@hookspec
def register_encoders() -> list[type[Encoder]]:  # type: ignore[empty-body]
    """Return Encoder classes; ``[transcode] encoder`` picks one by ``name`` (or "auto")."""


@hookspec
def register_notifiers() -> list[type[Notifier]]:  # type: ignore[empty-body]
    """Return Notifier classes; ``[notifiers] enabled`` lists the names to use."""


# -- lifecycle ---------------------------------------------------------------------------


@hookspec
def startup(settings: Settings) -> None:
    """Called once when ``serve``, ``worker`` or ``add`` has loaded its configuration.

    :param settings: the validated configuration.
    """


@hookspec
def video_uploaded(video: dict[str, Any]) -> None:
    """Called when a video's source is stored and its transcode job is queued.

    :param video: the video as the API shows it (``GET /api/v1/videos/{id}``).
    """


@hookspec
def video_ready(video: dict[str, Any]) -> None:
    """Called once when a video has been published and is playable.

    :param video: the video as the API shows it, with its renditions and URLs.
    """


@hookspec
def video_failed(video: dict[str, Any], error: str, final: bool) -> None:
    """Called when a transcode attempt fails.

    :param video: the video as the API shows it.
    :param error: the reason, written for people.
    :param final: True when no retry will follow (the video is now ``failed``).
    """


@hookspec
def video_deleted(video_id: str) -> None:
    """Called after a video and its files were deleted.

    :param video_id: the id the video had.
    """


# -- web ---------------------------------------------------------------------------------


@hookspec
def register_routes(app: Quart) -> list[Blueprint] | None:
    """Return Quart blueprints to mount on the app (or register routes on ``app``).

    :param app: the Quart application being built.
    """


@hookspec
def extra_template_vars(template: str, request_path: str) -> dict[str, Any] | None:
    """Return extra variables for a page template.

    :param template: the template name being rendered, e.g. ``"library.html"``.
    :param request_path: the path of the request being answered.
    """


# -- pipeline ----------------------------------------------------------------------------


@hookspec
def transcode_ladder(video_id: str, probe: ProbeResult, rungs: list[Rung]) -> list[Rung] | None:
    """Adjust the rungs planned for a video. Return a new list to replace the plan, or None.

    When several plugins return a list, the last one registered wins.

    :param video_id: the video being transcoded.
    :param probe: what the probe learned about the source.
    :param rungs: the rungs planned from the config (at or below the source size).
    """
