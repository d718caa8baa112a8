"""The notifier example of docs/plugins.md, dropped into a plugins folder, really posts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from streamforge.db.models import OutboxState
from streamforge.events import make_event
from streamforge.library.delivery import Dispatcher
from streamforge.library.notify import announce
from tests.notifiers.conftest import open_runtime, outbox_rows
from tests.notifiers.receiver import Receiver, Reply

REPO = Path(__file__).resolve().parents[2]


def discord_example() -> str:
    docs = (REPO / "docs" / "plugins.md").read_text()
    [block] = [
        b for b in re.findall(r"```python\n(.*?)```", docs, flags=re.S) if "class Discord(" in b
    ]
    return block


async def test_discord_example_posts_to_its_webhook(tmp_path: Path, receiver: Receiver) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "discord.py").write_text(discord_example())
    receiver.reply(Reply(502))  # once: retried like any server error
    env = {
        "STREAMFORGE_PLUGINS__DIRECTORY": str(folder),
        "STREAMFORGE_NOTIFIERS__ENABLED": '["discord"]',
        "STREAMFORGE_NOTIFIERS__DISCORD__WEBHOOK_URL": f"{receiver.url}/api/webhooks/1/x",
        "STREAMFORGE_NOTIFIERS__DISCORD__ALLOW_PRIVATE": "true",
        "STREAMFORGE_SERVER__PUBLIC_URL": "https://video.example.org",
    }
    async with open_runtime(tmp_path, **env) as rt:
        video = {"id": "vid00000001", "title": "Holiday"}
        await announce(rt, make_event("video.ready", "vid00000001", video=video))
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert (row.state, row.attempts) == (OutboxState.DELIVERED, 2)
    request = receiver.requests[-1]
    assert request.path == "/api/webhooks/1/x"
    assert json.loads(request.body) == {
        "content": "**Video ready: Holiday**\n“Holiday” is ready to watch.\n"
        "https://video.example.org/v/vid00000001"
    }


async def test_discord_example_refuses_a_private_target(tmp_path: Path, receiver: Receiver) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "discord.py").write_text(discord_example())
    env = {
        "STREAMFORGE_PLUGINS__DIRECTORY": str(folder),
        "STREAMFORGE_NOTIFIERS__ENABLED": '["discord"]',
        "STREAMFORGE_NOTIFIERS__DISCORD__WEBHOOK_URL": receiver.url,
    }
    async with open_runtime(tmp_path, **env) as rt:
        await announce(rt, make_event("video.ready", "vid00000001"))
        await Dispatcher(rt).run_once()
        [row] = await outbox_rows(rt)
        assert row.state == OutboxState.FAILED
        assert "loopback address" in (row.last_error or "")
    assert receiver.requests == []
