"""What the web layer keeps on the app, and the helpers views use to reach it."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app

from streamforge.config import Settings
from streamforge.errors import StreamForgeError
from streamforge.jobs.host import JobHost
from streamforge.plugins import Registry
from streamforge.runtime import Runtime
from streamforge.web.themes import ThemeSet


@dataclass
class AppState:
    settings: Settings
    registry: Registry
    themes: ThemeSet
    runtime: Runtime | None = None
    jobs: JobHost | None = None
    #: The site's secret key (streamforge.auth.secret), read on first use.
    site_key: bytes | None = None


def app_state() -> AppState:
    state: AppState = current_app.extensions["streamforge"]
    return state


def runtime() -> Runtime:
    rt = app_state().runtime
    if rt is None:
        raise StreamForgeError("the application is not serving yet")
    return rt
