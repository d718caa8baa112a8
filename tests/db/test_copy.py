"""`streamforge copy-database`: a library on the embedded SQLite file moves to PostgreSQL
(the real server here) and carries on there, every row with it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from streamforge.auth.accounts import create_user
from streamforge.db.copy import Copied, copy_database
from streamforge.db.models import Base, Role, User
from streamforge.db.session import Database
from tests.e2e.cli import cli, running_server, write_config
from tests.mediagen import make_clip

pytestmark = pytest.mark.slow


def sqlite_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {
            t.name: db.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
            for t in Base.metadata.sorted_tables
        }
    finally:
        db.close()


async def counts(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.read() as s:
            return {
                t.name: (await s.execute(select(func.count()).select_from(t))).scalar_one()
                for t in Base.metadata.sorted_tables
            }
    finally:
        await db.close()


async def test_a_sqlite_library_moves_to_postgresql(tmp_path: Path, postgresql_url: str) -> None:
    config = write_config(tmp_path)
    on_postgresql = {"STREAMFORGE_DATABASE__URL": postgresql_url}
    made = cli(config, "user", "add", "alice", "--password-stdin", stdin="a-long-password\n")
    assert made.returncode == 0, made.stderr
    token = cli(config, "token", "create", "alice")
    assert token.returncode == 0, token.stderr
    alice = {"Authorization": f"Bearer {token.stdout.strip().splitlines()[-1]}"}
    assert cli(config, "invite", "create").returncode == 0
    clip = make_clip(tmp_path / "first.mp4", width=320, height=240, seconds=2.0)
    added = cli(config, "add", str(clip), "--owner", "alice", "--privacy", "private", "--wait")
    assert added.returncode == 0, added.stderr
    video_id = added.stdout.strip()
    before = sqlite_counts(tmp_path / "data" / "streamforge.db")
    assert before["videos"] == before["jobs"] == 1
    assert before["renditions"] == 2
    assert before["job_attempts"] == 1

    copied = cli(config, "copy-database", postgresql_url)
    assert copied.returncode == 0, copied.stderr
    assert "videos: 1 row(s)" in copied.stderr
    assert f"copied {sum(before.values())} row(s)" in copied.stderr
    assert await counts(postgresql_url) == before

    # the library goes on on PostgreSQL: old rows readable, new ids do not collide
    second = make_clip(tmp_path / "second.mp4", width=320, height=240, seconds=2.0)
    added = cli(config, "add", str(second), "--wait", env=on_postgresql)
    assert added.returncode == 0, added.stderr
    moved_on = await counts(postgresql_url)
    assert (moved_on["renditions"], moved_on["job_attempts"]) == (4, 2)
    with running_server(config, env=on_postgresql) as server:
        status, body, _ = server.get(f"/api/v1/videos/{video_id}", headers=alice)
        assert status == 200, body  # alice's token, and her private video, came along
        video = json.loads(body)
        assert (video["status"], video["privacy"]) == ("ready", "private")
        assert len(video["renditions"]) == 2

    # a target that already holds rows is refused, and left as it was
    after = await counts(postgresql_url)
    again = cli(config, "copy-database", postgresql_url)
    assert again.returncode == 2
    assert "the target database is not empty" in again.stderr
    assert await counts(postgresql_url) == after


async def test_a_failed_copy_leaves_the_target_empty_and_copies_go_both_ways(
    tmp_path: Path, postgresql_url: str
) -> None:
    source = Database(f"sqlite+aiosqlite:///{tmp_path / 'source.db'}")
    target = Database(postgresql_url)

    def fail_after_users(done: Copied) -> None:
        if done.table == "users":
            raise OSError("the disk went away")

    try:
        await source.migrate()
        await create_user(source, "alice", "a-long-password", Role.UPLOADER)
        with pytest.raises(OSError, match="the disk went away"):
            await copy_database(source, target, on_table=fail_after_users)
        assert set((await counts(postgresql_url)).values()) == {0}
        assert [c.rows for c in await copy_database(source, target) if c.table == "users"] == [1]
        # and back the other way, into a new SQLite file
        back = Database(f"sqlite+aiosqlite:///{tmp_path / 'back.db'}")
        try:
            await copy_database(target, back)
            assert await counts(back.url) == await counts(postgresql_url)
            async with back.read() as s:
                assert (await s.execute(select(User.name, User.role))).all() == [
                    ("alice", Role.UPLOADER)
                ]
        finally:
            await back.close()
    finally:
        await source.close()
        await target.close()
