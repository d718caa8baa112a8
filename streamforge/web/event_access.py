"""Which events a WebSocket client may receive: those about videos it may see.

Filtering needs each video's owner and privacy. Events that carry the video (``video.state``,
``video.ready``, …) teach them; for a video no event has described yet, the database is
read once per process, however many clients wait for the answer. A privacy change is
published as a ``video.state``, so what every web node knows follows it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from streamforge.auth import policy
from streamforge.auth.accounts import Account
from streamforge.config import Settings
from streamforge.db.models import Privacy, Video
from streamforge.db.session import Database
from streamforge.events import Event

MAX_KNOWN = 10_000


@dataclass(frozen=True)
class Facts:
    owner_id: str | None
    privacy: Privacy


class VideoFacts:
    """Owner and privacy per video id (None: no such video), shared by every client."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, Facts | None] = {}
        self._reading: dict[str, asyncio.Future[Facts | None]] = {}

    def learn(self, event: Event) -> None:
        video = event.get("video")
        if isinstance(video, dict) and "privacy" in video:
            self._remember(
                str(event["video_id"]), Facts(video.get("owner_id"), Privacy(video["privacy"]))
            )
        # a deleted video keeps what was known of it: its video.deleted goes to those who
        # could see it (ids are never reused)

    def known(self, video_id: str) -> tuple[bool, Facts | None]:
        if video_id in self._known:
            return True, self._known[video_id]
        return False, None

    async def read(self, video_id: str) -> Facts | None:
        """From the database, one query per video however many clients ask at once."""
        pending = self._reading.get(video_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._reading[video_id] = pending
            try:
                async with self.db.read() as s:
                    row = await s.get(Video, video_id)
                    facts = Facts(row.owner_id, row.privacy) if row is not None else None
                self._remember(video_id, facts)
                pending.set_result(facts)
            except Exception as exc:
                pending.set_exception(exc)  # raised below, to every waiting client
            finally:
                del self._reading[video_id]
        return await asyncio.shield(pending)

    def _remember(self, video_id: str, facts: Facts | None) -> None:
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[video_id] = facts


def may_receive(
    viewer: Account | None,
    facts: Facts | None,
    settings: Settings,
    *,
    video_id: str,
    subscribed_to: str | None,
) -> bool:
    """Listed videos for everyone who may browse; an unlisted one only for a client that
    subscribed to it by id (it has the link); private ones for their owner and admins."""
    if facts is None:
        return False
    if facts.privacy == Privacy.PUBLIC and settings.auth.public_library:
        return True  # the common case, decided first: this runs per client per event
    if policy.may_list(viewer, facts.owner_id, facts.privacy, settings):
        return True
    return subscribed_to == video_id and policy.may_watch(
        viewer, facts.owner_id, facts.privacy, settings
    )
