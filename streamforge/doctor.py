"""``streamforge doctor``: check each part of the configuration really works here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from streamforge.config import Settings, redact_url
from streamforge.errors import StreamForgeError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def run_checks(settings: Settings) -> list[Check]:
    from streamforge.db.session import Database
    from streamforge.library.encoding import available_encoders
    from streamforge.plugins import Registry
    from streamforge.web.themes import ThemeSet

    checks = [Check("config", True, settings.source)]
    try:
        registry = Registry.build(settings)
    except StreamForgeError as exc:
        return [*checks, Check("plugins", False, str(exc), "fix or disable the plugin")]
    checks.append(Check("plugins", True, ", ".join(n for n, _ in registry.describe())))

    db = Database.of(settings)
    try:
        await db.check()
        checks.append(Check("database", True, db.safe_url))
    except StreamForgeError as exc:
        checks.append(Check("database", False, str(exc), "check [database] url"))
    finally:
        await db.close()

    try:
        storage = registry.storage()
        await storage.check()
        checks.append(Check("storage", True, settings.storage.backend))
        await storage.close()
    except StreamForgeError as exc:
        checks.append(Check("storage", False, str(exc), "check [storage] and its table"))

    checks.append(await _check_broker(settings))

    encoders = await asyncio.to_thread(available_encoders, registry)
    working = [e.name for e, ok in encoders if ok]
    broken = [e.name for e, ok in encoders if not ok]
    detail = f"working: {', '.join(working) or 'none'}"
    if broken:
        detail += f"; not working here: {', '.join(broken)}"
    checks.append(Check("encoders", bool(working), detail, "install a PyAV build with libx264"))
    wanted = settings.transcode.encoder
    if wanted != "auto" and wanted not in working:
        checks.append(
            Check(
                "transcode.encoder",
                False,
                f"{wanted!r} does not work here",
                'set [transcode] encoder = "auto"',
            )
        )
    try:
        themes = ThemeSet(settings)
        checks.append(Check("themes", True, " → ".join(t.name for t in themes.chain)))
    except StreamForgeError as exc:
        checks.append(Check("themes", False, str(exc), "check [themes] active"))
    return checks


async def _check_broker(settings: Settings) -> Check:
    url = settings.broker.url
    if not url:
        return Check("broker", True, "in-process (embedded mode)")
    shown = redact_url(url)
    if url.startswith(("redis://", "rediss://")):
        import redis.asyncio as aioredis

        client = aioredis.from_url(url)
        try:
            await client.ping()
            return Check("broker", True, f"redis {shown}")
        except Exception as exc:
            return Check("broker", False, f"redis {shown}: {exc}", "is Redis running?")
        finally:
            await client.aclose()
    return Check("broker", True, f"{shown} (not checked)")
