"""Ids double as storage key segments and URL parts."""

from __future__ import annotations

from streamforge.db.models import new_id
from streamforge.storage import validate_key


def test_new_ids_are_always_valid_key_segments() -> None:
    ids = {new_id() for _ in range(5000)}
    assert len(ids) == 5000
    for video_id in ids:
        assert len(video_id) == 11
        assert validate_key(f"videos/{video_id}/source/x.mp4")
        assert video_id[0].isalnum()
