"""The permission rules and signed media links, as plain functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamforge.auth import media_links
from streamforge.auth.accounts import Account
from streamforge.auth.policy import may_change, may_list, may_upload, may_watch
from streamforge.db.models import Privacy, Role
from tests.conftest import make_settings

OWNER = Account("owner000001", "owner", Role.UPLOADER, False)
VIEWERS = {
    "anonymous": None,
    "viewer": Account("viewer00001", "viewer", Role.VIEWER, False),
    "uploader": Account("uploader001", "uploader", Role.UPLOADER, False),
    "owner": OWNER,
    "admin": Account("admin000001", "admin", Role.ADMIN, False),
}
W, L = "watch", "list"
# who may watch (W) and find in listings (L) each privacy, on a public library
EXPECTED = {
    Privacy.PUBLIC: {name: {W, L} for name in VIEWERS},
    Privacy.UNLISTED: {**{name: {W} for name in VIEWERS}, "owner": {W, L}, "admin": {W, L}},
    Privacy.PRIVATE: {**{name: set() for name in VIEWERS}, "owner": {W, L}, "admin": {W, L}},
}


@pytest.mark.parametrize("privacy", list(Privacy))
@pytest.mark.parametrize("who", list(VIEWERS))
def test_watch_and_list_by_privacy(tmp_path: Path, privacy: Privacy, who: str) -> None:
    settings = make_settings(tmp_path)
    viewer = VIEWERS[who]
    allowed = set()
    if may_watch(viewer, OWNER.id, privacy, settings):
        allowed.add(W)
    if may_list(viewer, OWNER.id, privacy, settings):
        allowed.add(L)
    assert allowed == EXPECTED[privacy][who]


def test_a_closed_library_shows_nothing_to_anonymous_visitors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_AUTH__PUBLIC_LIBRARY="false")
    for privacy in Privacy:
        assert not may_watch(None, OWNER.id, privacy, settings)
        assert not may_list(None, OWNER.id, privacy, settings)
    assert may_watch(VIEWERS["viewer"], OWNER.id, Privacy.UNLISTED, settings)
    assert may_list(VIEWERS["viewer"], OWNER.id, Privacy.PUBLIC, settings)


def test_uploading_and_changing() -> None:
    assert [may_upload(v) for v in VIEWERS.values()] == [False, False, True, True, True]
    assert [may_change(v, OWNER.id) for v in VIEWERS.values()] == [
        False,
        False,
        False,
        True,
        True,
    ]
    # an owner demoted to viewer can no longer change what they uploaded; nobody owns orphans
    demoted = Account(OWNER.id, "owner", Role.VIEWER, False)
    assert not may_change(demoted, OWNER.id)
    assert not may_change(VIEWERS["uploader"], None)
    assert may_change(VIEWERS["admin"], None)


def test_a_media_link_opens_one_video_until_it_expires_or_privacy_changes() -> None:
    key = b"k" * 32
    token = media_links.sign(key, "videoAAAAAA", epoch=3, lifetime=600, now=1000)
    assert media_links.valid(key, token, "videoAAAAAA", 3, now=1599)
    assert not media_links.valid(key, token, "videoAAAAAA", 3, now=1600)  # expired
    assert not media_links.valid(key, token, "videoBBBBBB", 3, now=1000)  # another video
    assert not media_links.valid(key, token, "videoAAAAAA", 4, now=1000)  # privacy changed
    assert not media_links.valid(b"z" * 32, token, "videoAAAAAA", 3, now=1000)  # other site
    expires, _, signature = token.partition(".")
    longer = f"{int(expires) + 9999}.{signature}"
    assert not media_links.valid(key, longer, "videoAAAAAA", 3, now=1000)  # tampered expiry
    for junk in ("", ".", "abc.def", "1600", "-5.x", "9" * 40 + ".x"):
        assert not media_links.valid(key, junk, "videoAAAAAA", 3, now=1000)
