"""Who may see and change what, for the request at hand: the one place a view asks.

The rules are :mod:`streamforge.auth.policy`'s; this module applies them to the current
request's account (:func:`streamforge.web.auth.current_account`) and turns a refusal into
the right error: a video the visitor may not watch does not exist for them (404, the same
answer as a missing id, so ids of private videos cannot be probed); an anonymous visitor
who needs an account gets 401 (the pages send them to the login form); a known one who
may not gets 403.
"""

from __future__ import annotations

from streamforge.auth import media_links, policy
from streamforge.auth.accounts import Account
from streamforge.db.models import Privacy, Video
from streamforge.errors import AuthenticationFailed, Forbidden, NotFound
from streamforge.web.auth import current_account, site_key
from streamforge.web.state import app_state


async def require_browse() -> Account | None:
    """The library (listing, search) — closed to anonymous visitors unless it is public."""
    account = await current_account()
    if not policy.may_browse(account, app_state().settings):
        raise AuthenticationFailed("this library is for members: log in")
    return account


async def require_watch(video: Video) -> Account | None:
    """Refuse (404) a visitor who may not see ``video``; their account otherwise."""
    account = await require_browse()  # a members-only library asks for a login first
    if not policy.may_watch(account, video.owner_id, video.privacy, app_state().settings):
        raise NotFound(f"no video {video.id!r}")
    return account


async def may_change(video: Video) -> bool:
    return policy.may_change(await current_account(), video.owner_id)


async def require_change(video: Video) -> Account:
    """Refuse a visitor who may not edit or delete ``video``."""
    account = await require_watch(video)
    if account is None:
        raise AuthenticationFailed("log in to change videos")
    if not policy.may_change(account, video.owner_id):
        raise Forbidden(f"only its owner or an admin may change video {video.id!r}")
    return account


async def require_upload() -> Account:
    account = await current_account()
    if account is None:
        raise AuthenticationFailed("log in (or send an API token) to upload")
    if not policy.may_upload(account):
        raise Forbidden("uploading needs an uploader or admin account")
    return account


async def require_upload_owner(owner_id: str | None, upload_id: str) -> Account:
    """Refuse (404) anyone but the account that started an upload (and admins)."""
    account = await require_upload()
    if owner_id != account.id and not policy.is_admin(account):
        raise NotFound(f"no upload {upload_id!r}")
    return account


async def require_admin() -> Account:
    """Refuse a visitor who may not use the admin area."""
    account = await current_account()
    if account is None:
        raise AuthenticationFailed("log in as an administrator")
    if not policy.is_admin(account):
        raise Forbidden("only an administrator may use the admin area")
    return account


def media_token(video: Video) -> str | None:
    """A signed media link token for a video that is not open to everyone, else None.

    Only for a visitor already allowed to watch ``video`` (the caller checked): it lets
    their player (or whoever they share the page with, until it expires) fetch its files.
    """
    settings = app_state().settings
    if video.privacy == Privacy.PUBLIC and settings.auth.public_library:
        return None
    lifetime = settings.auth.media_link_seconds
    return media_links.sign(site_key(), video.id, video.media_epoch, lifetime)
