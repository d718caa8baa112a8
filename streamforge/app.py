"""The Quart application factory: extensions, then blueprints, then error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from quart import Quart
from quart_schema import Info, QuartSchema

from streamforge import __version__
from streamforge.config import Settings
from streamforge.jobs.host import JobHost, shutdown
from streamforge.library.delivery import STOP_GRACE, Dispatcher
from streamforge.library.uploads import purge_forever
from streamforge.plugins import Registry, call_hook_sync
from streamforge.runtime import Runtime
from streamforge.web import (
    account,
    admin,
    api,
    auth,
    bodies,
    cors,
    direct_uploads,
    docs,
    errors,
    events_ws,
    health,
    media,
    metrics,
    pages,
    posters,
    proxies,
    registration,
    security,
    uploads,
)
from streamforge.web.state import AppState
from streamforge.web.themes import ThemeSet

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, registry: Registry | None = None, run_jobs: bool = True
) -> Quart:
    """Build the app. ``run_jobs`` starts in-process job workers, the reconciler and the
    notification dispatcher while serving (embedded mode); with an external broker only
    the reconciler and the dispatcher run here."""
    registry = registry or Registry.build(settings)
    themes = ThemeSet(settings)  # fail fast on a bad [themes] section

    app = Quart(__name__, static_folder=None)
    # "//" must reach the views (and be refused there), not be redirected to a merged path
    app.url_map.merge_slashes = False
    app.config.update(
        JSON_SORT_KEYS=False,
        # JSON bodies and forms; upload data has its own limits (web/uploads.py, posters.py)
        MAX_CONTENT_LENGTH=settings.server.max_request_bytes,
        QUART_SCHEMA_SWAGGER_JS_URL="/docs/assets/swagger-ui-bundle.js",
        QUART_SCHEMA_SWAGGER_CSS_URL="/docs/assets/swagger-ui.css",
    )
    QuartSchema(
        app,
        info=Info(title="StreamForge", version=__version__),
        openapi_path="/openapi.json",
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    state = AppState(settings=settings, registry=registry, themes=themes)
    app.extensions["streamforge"] = state
    pages.setup_templates(app, state)

    auth.install(app)
    security.install(app)
    app.register_blueprint(api.blueprint)
    health.install(app)
    metrics.install(app, enabled=settings.metrics.enabled)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(account.blueprint)
    registration.install(app)
    app.request_class = bodies.request_class(uploads.BODY_LIMIT, posters.BODY_LIMIT)
    uploads.install(app)
    app.register_blueprint(posters.blueprint)
    app.register_blueprint(direct_uploads.blueprint)
    app.register_blueprint(events_ws.blueprint)
    app.register_blueprint(media.blueprint)
    app.register_blueprint(docs.blueprint)
    app.register_blueprint(pages.blueprint)
    for result in call_hook_sync(registry.pm, "register_routes", app=app):
        for blueprint in result or ():
            app.register_blueprint(blueprint)
    errors.register(app)
    cors.install(app, settings.server.cors_origins)

    @app.while_serving
    async def lifecycle() -> AsyncGenerator[None, None]:
        rt = Runtime.create(settings, registry)
        await rt.open()
        state.runtime = rt
        host = JobHost(settings, registry)
        state.jobs = host
        reconciler: asyncio.Task[None] | None = None
        notify = Dispatcher(rt)
        if run_jobs:
            if host.in_process:
                host.start_worker()
            reconciler = asyncio.create_task(host.reconcile_forever(rt))
            notify.start()
        purger = asyncio.create_task(
            purge_forever(rt.db, rt.storage, settings, uploads.writers_of(app))
        )
        try:
            yield
        finally:
            await notify.stop(within=STOP_GRACE)  # (nothing to stop unless started)
            await shutdown(host, rt, purger, reconciler)
            state.runtime = None
            state.jobs = None

    # outermost: every request and socket sees the client behind a trusted proxy
    app.asgi_app = proxies.ProxyHeaders(app.asgi_app, settings.server.trusted_proxies)  # type: ignore[method-assign]
    return app
