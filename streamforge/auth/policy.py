"""Who may do what: the one place that decides, so every route asks the same question.

Roles: an admin may do everything; an uploader may upload and edit or delete their own
videos; a viewer may watch. Privacy per video: public videos are listed and watchable by
everyone (by logged-in users only when ``[auth] public_library`` is false); unlisted ones
are watchable by whoever has the link but never listed or searched; private ones are for
their owner and admins.
"""

from __future__ import annotations

from streamforge.auth.accounts import Account
from streamforge.config import Settings
from streamforge.db.models import Privacy, Role


def is_admin(viewer: Account | None) -> bool:
    return viewer is not None and viewer.role == Role.ADMIN


def owns(viewer: Account | None, owner_id: str | None) -> bool:
    return viewer is not None and owner_id is not None and viewer.id == owner_id


def may_browse(viewer: Account | None, settings: Settings) -> bool:
    """Whether the library (listing, search, events of listed videos) is open to ``viewer``."""
    return viewer is not None or settings.auth.public_library


def may_watch(
    viewer: Account | None, owner_id: str | None, privacy: Privacy, settings: Settings
) -> bool:
    """Whether ``viewer`` may see this video's page, JSON and media (given its link)."""
    if is_admin(viewer) or owns(viewer, owner_id):
        return True
    if privacy == Privacy.PRIVATE:
        return False
    return may_browse(viewer, settings)


def may_list(
    viewer: Account | None, owner_id: str | None, privacy: Privacy, settings: Settings
) -> bool:
    """Whether this video appears in ``viewer``'s listings and searches."""
    if privacy == Privacy.PUBLIC:
        return may_browse(viewer, settings)
    return is_admin(viewer) or owns(viewer, owner_id)


def may_upload(viewer: Account | None) -> bool:
    return viewer is not None and viewer.role in (Role.ADMIN, Role.UPLOADER)


def may_change(viewer: Account | None, owner_id: str | None) -> bool:
    """Edit or delete: the owner (while still allowed to upload) or an admin."""
    return is_admin(viewer) or (may_upload(viewer) and owns(viewer, owner_id))
