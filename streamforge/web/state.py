"""What the web layer keeps on the app, and the helpers views use to reach it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quart import current_app

from streamforge.config import Settings
from streamforge.errors import StreamForgeError
from streamforge.jobs.host import JobHost
from streamforge.plugins import Registry
from streamforge.runtime import Runtime
from streamforge.web.themes import ThemeSet

if TYPE_CHECKING:
    from streamforge.web.event_access import VideoFacts


@dataclass
class AppState:
    settings: Settings
    registry: Registry
    themes: ThemeSet
    runtime: Runtime | None = None
    jobs: JobHost | None = None
    #: The site's secret key (streamforge.auth.secret), read on first use.
    site_key: bytes | None = None
    #: Owners and privacy of videos, for filtering live events (web.event_access).
    video_facts: VideoFacts | None = None
    #: Ready videos whose files media.py serves, cached briefly (web.media.published).
    published_media: dict[str, Any] = field(default_factory=dict)


def app_state() -> AppState:
    state: AppState = current_app.extensions["streamforge"]
    return state


def runtime() -> Runtime:
    rt = app_state().runtime
    if rt is None:
        raise StreamForgeError("the application is not serving yet")
    return rt
