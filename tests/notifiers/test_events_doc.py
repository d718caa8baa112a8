"""docs/events.md against the events the code really sends: same fields, same JSON types."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

from quart import Quart

from streamforge.app import create_app
from streamforge.events import Event
from streamforge.jobs import store
from streamforge.jobs.runner import run_transcode
from streamforge.library import videos
from streamforge.library.notify import announce_uploaded
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.mediagen import make_clip

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "null": (type(None),),
}
#: Documented, but only sent when a hardware encoder fails mid-transcode.
NOT_PROVOKED_HERE = {"video.warning"}


def field_table(text: str) -> dict[str, str]:
    """``{field: type}`` from the first | field | type | meaning | table in ``text``."""
    match = re.search(r"^\| field \| type \| meaning \|\n(?:^\|.*\n)+", text, flags=re.M)
    if match is None:
        return {}
    return dict(re.findall(r"^\| `(\w+)` \| ([a-z ]+) \|", match.group(), flags=re.M))


def documented() -> tuple[dict[str, str], dict[str, dict[str, str] | None]]:
    """The common fields, and each event type's own fields (None: documented as not sent)."""
    doc = DOC.read_text()
    common = field_table(doc.split("## Common fields", 1)[1].split("\n## ", 1)[0])
    types: dict[str, dict[str, str] | None] = {}
    section = doc.split("## Event types", 1)[1].split("\n## ", 1)[0]
    for part in section.split("\n### ")[1:]:
        heading, body = part.split("\n", 1)
        names = re.findall(r"`([\w.]+)`", heading)
        fields: dict[str, str] | None = None if "Not sent" in body else field_table(body)
        for name in names:
            types[name] = fields
    return common, types


def is_of(value: Any, json_type: str) -> bool:
    allowed = tuple(t for name in json_type.split(" or ") for t in JSON_TYPES[name])
    if isinstance(value, bool) and bool not in allowed:
        return False  # True is an int to Python, not to JSON
    return isinstance(value, allowed)


async def sent_events(tmp_path: Path) -> list[Event]:
    """Everything a real upload, transcode, failure, WebSocket connection and deletion
    publish on the event bus."""
    settings = make_settings(
        tmp_path,
        STREAMFORGE_TRANSCODE__LADDER=(
            '[{name = "144p", height = 144, video_bitrate = 200000, audio_bitrate = 64000}]'
        ),
        STREAMFORGE_ENCODERS__X264__PRESET="ultrafast",
        STREAMFORGE_JOBS__MAX_ATTEMPTS="1",
    )
    app: Quart = create_app(settings, run_jobs=False)
    seen: list[Event] = []
    async with app.test_app():
        rt: Runtime | None = app.extensions["streamforge"].runtime
        assert rt is not None
        deleted = asyncio.Event()

        def record(event: Event) -> None:
            seen.append(event)
            if event["type"] == "video.deleted":
                deleted.set()

        stop = rt.events.listen(record)
        try:
            clip = make_clip(tmp_path / "clip.mp4", width=256, height=144, seconds=1.0)
            good = await videos.import_file(rt.db, rt.storage, settings, clip)
            await announce_uploaded(rt, good.video_id)
            async with app.test_client().websocket("/api/v1/events") as ws:
                seen.append(await ws.receive_json())  # the snapshot of the queued video
            await run_transcode(rt, good.job_id, store.worker_identity(), lambda *a: None)
            junk = tmp_path / "junk.mp4"
            junk.write_bytes(os.urandom(4096))
            bad = await videos.import_file(rt.db, rt.storage, settings, junk)
            await run_transcode(rt, bad.job_id, store.worker_identity(), lambda *a: None)
            _, token = await make_account(rt.db)
            response = await bearer_client(app, token).delete(f"/api/v1/videos/{good.video_id}")
            assert response.status_code == 200
            await asyncio.wait_for(deleted.wait(), 10)  # the bus delivers on a later turn
        finally:
            stop()
    return seen


async def test_every_sent_event_is_documented_field_for_field(tmp_path: Path) -> None:
    common, types = documented()
    assert set(common) == {"type", "id", "time", "video_id"}
    events = await sent_events(tmp_path)
    kinds = {e["type"] for e in events}
    expected = {name for name, fields in types.items() if fields is not None}
    assert kinds == expected - NOT_PROVOKED_HERE
    for event in events:
        fields = types[event["type"]]
        assert fields is not None, f"{event['type']} is documented as not sent"
        schema = {**common, **fields}
        assert set(event) == set(schema), event["type"]
        for key, json_type in schema.items():
            assert is_of(event[key], json_type), (event["type"], key, event[key], json_type)


def test_the_json_examples_have_the_documented_fields() -> None:
    common, types = documented()
    examples = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]
    assert len(examples) >= 3
    for example in examples:
        fields = types[example["type"]]
        assert fields is not None
        assert set(example) == {*common, *fields}, example["type"]
