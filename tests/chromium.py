"""Headless Chromium (Debian's package) driven by Python Playwright, without
`playwright install`: see FACTS for the flags."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_service

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def playwright() -> Iterator[Any]:
    # per test, not per session: sync Playwright runs an event loop on this thread while
    # it is open, which would break every asyncio test that follows on the same worker
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        need_service("playwright", False, exc)
    need_service("chromium", Path(CHROMIUM).exists(), f"{CHROMIUM} is missing")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright: Any) -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=ARGS,
        viewport={"width": 1280, "height": 800},
    )
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Any, name: str) -> Path:
    """Saved for people to look at (not committed: test-artifacts/ is ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pump_until(page: Any, condition: Callable[[], bool], within: float = 30) -> None:
    """Let Playwright run its callbacks (routes, WebSocket frame listeners) until
    ``condition`` holds: they only run while the page is waited on."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)
