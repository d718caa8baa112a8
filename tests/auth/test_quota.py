"""Upload quotas: what counts, who is limited, and the 413 that says used/quota/requested —
through the app (tus and direct-to-S3), a real tus client against a real ``serve``, and the
migration that adds the column, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select, update
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError

from streamforge.app import create_app
from streamforge.auth import quota
from streamforge.config import Settings
from streamforge.db.models import Role, UploadSession, Video, utcnow
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, QuotaExceeded
from streamforge.library import uploads
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.e2e.cli import running_server, write_config
from tests.s3server import s3_env, unique_bucket
from tests.uploads.real import PREFIX, TUS
from tests.web.helpers import add_ready_video

KIB = 1024


def tus(length: int) -> dict[str, str]:
    return {**TUS, "Upload-Length": str(length)}


async def add_video(db: Database, video_id: str, owner_id: str | None, size: int) -> None:
    async with db.session() as s:
        s.add(Video(id=video_id, title=video_id, owner_id=owner_id, source_size=size))


# -- the rules ------------------------------------------------------------------------------


def test_the_limit_of_an_account() -> None:
    limited = make_settings(Path("/nonexistent"), STREAMFORGE_AUTH__DEFAULT_QUOTA="1000")
    assert quota.limit_of(Role.UPLOADER, None, limited) == 1000
    assert quota.limit_of(Role.UPLOADER, 50, limited) == 50  # its own beats the default
    assert quota.limit_of(Role.UPLOADER, 0, limited) is None  # 0: unlimited
    assert quota.limit_of(Role.ADMIN, 50, limited) is None  # admins never limited
    assert quota.limit_of(Role.UPLOADER, None, Settings()) is None  # default: unlimited


def test_quota_arguments() -> None:
    assert quota.parse_quota("1073741824") == 1073741824
    assert quota.parse_quota("Unlimited") == 0
    assert quota.parse_quota("default") is None
    for bad in ("-1", "1e9", "10GB", "", "9" * 20):
        with pytest.raises(InvalidRequest, match="number of bytes"):
            quota.parse_quota(bad)
    assert quota.format_bytes(512) == "512 bytes"
    assert quota.format_bytes(1536) == "1.5 KiB"
    assert quota.format_bytes(10 * 1024**3) == "10.0 GiB"


async def test_usage_counts_videos_and_live_unfinished_uploads(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_AUTH__DEFAULT_QUOTA=str(100 * KIB))
    ada, _ = await make_account(db, "ada", Role.UPLOADER)
    await add_video(db, "adavideo001", ada.id, 30 * KIB)
    await add_video(db, "nobodysvid1", None, 999 * KIB)  # not hers
    live = await uploads.create_upload(db, settings, length=20 * KIB, meta={}, owner_id=ada.id)
    stale = await uploads.create_upload(db, settings, length=5 * KIB, meta={}, owner_id=ada.id)
    async with db.session() as s:
        await s.execute(
            update(UploadSession)
            .where(UploadSession.id == stale.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    usage = await quota.usage_of(db, settings, ada.id)
    assert (usage.used, usage.limit, usage.available) == (50 * KIB, 100 * KIB, 50 * KIB)
    # the rest fits exactly; one byte more does not, and the refusal says why in numbers
    with pytest.raises(QuotaExceeded) as refused:
        await uploads.create_upload(db, settings, length=50 * KIB + 1, meta={}, owner_id=ada.id)
    assert (refused.value.used, refused.value.quota, refused.value.requested) == (
        50 * KIB,
        100 * KIB,
        50 * KIB + 1,
    )
    assert "ada has 50.0 KiB left of a 100.0 KiB quota" in str(refused.value)
    await uploads.create_upload(db, settings, length=50 * KIB, meta={}, owner_id=ada.id)
    await uploads.terminate(db, settings, live.id)  # abandoning an upload frees its room
    assert (await quota.usage_of(db, settings, ada.id)).used == 80 * KIB
    await quota.set_quota(db, "ada", quota.UNLIMITED)
    assert (await quota.usage_of(db, settings, ada.id)).limit is None


# -- through the app --------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, STREAMFORGE_AUTH__DEFAULT_QUOTA=str(100 * KIB))


async def test_a_tus_upload_over_quota_is_413_with_the_numbers(app: Quart, rt: Runtime) -> None:
    ada, token = await make_account(rt.db, "ada", Role.UPLOADER)
    client = bearer_client(app, token)
    await add_ready_video(rt, "adavideo001", owner_id=ada.id, source_size=60 * KIB)
    first = await client.post(PREFIX, headers=tus(30 * KIB))
    assert first.status_code == 201
    refused = await client.post(PREFIX, headers=tus(10 * KIB + 1))
    assert refused.status_code == 413
    assert refused.headers["Tus-Resumable"] == "1.0.0"
    error = (await refused.get_json())["error"]
    assert error["code"] == "quota_exceeded"
    assert (error["used"], error["quota"], error["requested"]) == (90 * KIB, 100 * KIB, 10241)
    assert "quota" in error["message"]
    # a refused creation-with-upload stores nothing either
    with_body = await client.post(
        PREFIX,
        headers={**tus(20 * KIB), "Content-Type": "application/offset+octet-stream"},
        data=b"x" * 100,
    )
    assert with_body.status_code == 413
    me = await (await client.get("/api/v1/me")).get_json()
    assert me["quota"] == {"used": 90 * KIB, "limit": 100 * KIB, "available": 10 * KIB}
    assert (await client.post(PREFIX, headers=tus(10 * KIB))).status_code == 201


async def test_admins_are_not_limited_and_own_quotas_win(app: Quart, rt: Runtime) -> None:
    _, admin_token = await make_account(rt.db, "root", Role.ADMIN)
    admin = bearer_client(app, admin_token)
    assert (await admin.post(PREFIX, headers=tus(500 * KIB))).status_code == 201
    me = await (await admin.get("/api/v1/me")).get_json()
    assert me["quota"] == {"used": 500 * KIB, "limit": None, "available": None}
    _, token = await make_account(rt.db, "bob", Role.UPLOADER)
    bob = bearer_client(app, token)
    assert (await bob.post(PREFIX, headers=tus(200 * KIB))).status_code == 413
    await quota.set_quota(rt.db, "bob", 300 * KIB)
    assert (await bob.post(PREFIX, headers=tus(200 * KIB))).status_code == 201


async def test_a_direct_upload_over_quota_is_413_before_s3_is_asked(
    tmp_path: Path, moto_url: str
) -> None:
    env = s3_env(moto_url, unique_bucket(), create_bucket="true")
    settings = make_settings(tmp_path, STREAMFORGE_AUTH__DEFAULT_QUOTA=str(100 * KIB), **env)
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt: Runtime = app.extensions["streamforge"].runtime
        _, token = await make_account(rt.db, "ada", Role.UPLOADER)
        client = bearer_client(app, token)
        body: dict[str, Any] = {"filename": "a.mp4", "size": 60 * KIB}
        assert (await client.post("/api/v1/uploads/s3", json=body)).status_code == 201
        refused = await client.post("/api/v1/uploads/s3", json=body)
        assert refused.status_code == 413
        error = (await refused.get_json())["error"]
        assert (error["used"], error["quota"], error["requested"]) == (
            60 * KIB,
            100 * KIB,
            60 * KIB,
        )
        async with rt.db.read() as s:
            count = (await s.execute(select(func.count()).select_from(UploadSession))).scalar()
        assert count == 1


# -- a real tus client against a real server -----------------------------------------------


@pytest.mark.slow
def test_tuspy_hears_413_when_the_quota_is_full(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[auth]\ndefault_quota = 300000\n")
    with running_server(config) as server:
        headers = {"Authorization": f"Bearer {_cli_user(config, 'ada')}"}
        source = tmp_path / "clip.bin"
        source.write_bytes(os.urandom(200_000))
        client = TusClient(server.url + PREFIX, headers=headers)
        with source.open("rb") as stream:  # fits: 200 kB of 300
            client.uploader(file_stream=stream, chunk_size=64 * 1024).upload()
        with source.open("rb") as stream, pytest.raises(TusCommunicationError) as refused:
            client.uploader(file_stream=stream, chunk_size=64 * 1024).upload()
        assert refused.value.status_code == 413
        assert b"quota_exceeded" in (refused.value.response_content or b"")


def _cli_user(config: Path, name: str) -> str:
    """An uploader made with the real CLI; its API token."""
    from tests.e2e.cli import cli

    made = cli(config, "user", "add", name, "--password-stdin", stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    token = cli(config, "token", "create", name)
    assert token.returncode == 0, token.stderr
    return token.stdout.strip().splitlines()[-1]


# -- the migration ---------------------------------------------------------------------------


def test_migration_0005_keeps_users_and_goes_back(database_url: str) -> None:
    from sqlalchemy import text

    from tests.library.test_migrations import Engine, columns, drift, migrate, tables

    engine = Engine(database_url)
    try:
        migrate(engine, "upgrade", "0004")
        engine.run(
            lambda conn: conn.execute(
                text(
                    "INSERT INTO users (id, name, role, disabled, created_at) "
                    "VALUES ('u1', 'ada', 'uploader', false, CURRENT_TIMESTAMP)"
                )
            )
        )
        migrate(engine, "upgrade", "head")
        assert "quota" in columns(engine, "users")
        assert "invites" in tables(engine)
        assert drift(engine) == []
        rows = engine.run(lambda conn: conn.execute(text("SELECT name, quota FROM users")).all())
        assert [tuple(r) for r in rows] == [("ada", None)]  # the default applies to her
        migrate(engine, "downgrade", "0004")
        assert "quota" not in columns(engine, "users")
        assert "invites" not in tables(engine)
        names = engine.run(lambda conn: conn.execute(text("SELECT name FROM users")).all())
        assert [tuple(r) for r in names] == [("ada",)]
    finally:
        engine.close()
