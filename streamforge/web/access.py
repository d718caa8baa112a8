"""Who may change what: the one place a permission check goes when accounts arrive.

There are no accounts yet, and the API has always let whoever reaches the server edit and
delete any video and use the admin area. The views and templates already ask these
questions (a refusal is a 403, JSON under ``/api/``, a themed page elsewhere), so accounts
replace the answers here and nothing else.
"""

from __future__ import annotations

from werkzeug.exceptions import Forbidden


def may_edit_video(video_id: str) -> bool:
    """Whether the current visitor may edit or delete the video ``video_id``."""
    del video_id  # every visitor may, until accounts exist
    return True


def may_administer() -> bool:
    """Whether the current visitor may see the admin page and retry jobs."""
    return True


def require_edit_video(video_id: str) -> None:
    """Refuse (403) a visitor who may not edit or delete ``video_id``."""
    if not may_edit_video(video_id):
        raise Forbidden(f"you may not change video {video_id!r}")


def require_admin() -> None:
    """Refuse (403) a visitor who may not use the admin area."""
    if not may_administer():
        raise Forbidden("only an administrator may use the admin area")
