"""Users and API tokens against a real, migrated SQLite file."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from streamforge.auth.accounts import (
    authenticate,
    create_user,
    has_admin,
    set_disabled,
    set_password,
)
from streamforge.auth.tokens import authenticate_token, create_token, list_tokens, revoke_token
from streamforge.db.models import ApiToken, Role, User
from streamforge.db.session import Database
from streamforge.errors import AuthenticationFailed, InvalidRequest, NotFound
from tests.dbs import everything_stored

GOOD = "correct horse battery"


async def stored_hash(db: Database, name: str) -> str:
    async with db.read() as s:
        value = (await s.execute(select(User.password_hash).where(User.name == name))).scalar()
    assert value is not None
    return value


async def test_a_user_logs_in_with_their_password_only(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.UPLOADER)
    user = await authenticate(db, "ada", GOOD)
    assert (user.name, user.role) == ("ada", Role.UPLOADER)
    stored = await stored_hash(db, "ada")
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    with pytest.raises(AuthenticationFailed) as wrong:
        await authenticate(db, "ada", GOOD + "!")
    with pytest.raises(AuthenticationFailed) as unknown:
        await authenticate(db, "nobody", GOOD)
    # the answer does not tell which names exist
    assert str(wrong.value) == str(unknown.value) == "wrong user name or password"


async def test_a_disabled_user_is_refused_until_enabled(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.VIEWER)
    await set_disabled(db, "ada", True)
    with pytest.raises(AuthenticationFailed):
        await authenticate(db, "ada", GOOD)
    await set_disabled(db, "ada", False)
    assert (await authenticate(db, "ada", GOOD)).name == "ada"


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", GOOD, "invalid user name"),
        ("-ada", GOOD, "invalid user name"),
        ("a/b", GOOD, "invalid user name"),
        ("x" * 65, GOOD, "invalid user name"),
        ("ada", "short", "at least 10 characters"),
        ("ada", "x" * 1025, "at most 1024 characters"),
    ],
)
async def test_bad_names_and_passwords_are_refused_with_a_reason(
    db: Database, name: str, password: str, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await create_user(db, name, password, Role.VIEWER)
    async with db.read() as s:
        assert (await s.execute(select(User))).first() is None


async def test_names_are_unique(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.VIEWER)
    with pytest.raises(InvalidRequest, match="already exists"):
        await create_user(db, "ada", GOOD + "2", Role.ADMIN)
    assert (await authenticate(db, "ada", GOOD)).role == Role.VIEWER


async def test_changing_a_password_retires_the_old_one(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.VIEWER)
    await set_password(db, "ada", "another long password")
    with pytest.raises(AuthenticationFailed):
        await authenticate(db, "ada", GOOD)
    assert (await authenticate(db, "ada", "another long password")).name == "ada"
    with pytest.raises(NotFound, match="no user named 'bob'"):
        await set_password(db, "bob", "another long password")


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_login(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.VIEWER)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)
    async with db.session() as s:
        await s.execute(update(User).where(User.name == "ada").values(password_hash=weak))
    await authenticate(db, "ada", GOOD)
    upgraded = await stored_hash(db, "ada")
    assert upgraded != weak
    assert "m=8192" not in upgraded
    assert (await authenticate(db, "ada", GOOD)).name == "ada"


async def test_only_an_enabled_admin_counts_as_an_admin(db: Database) -> None:
    assert not await has_admin(db)
    await create_user(db, "ada", GOOD, Role.UPLOADER)
    assert not await has_admin(db)
    await create_user(db, "root", GOOD, Role.ADMIN)
    assert await has_admin(db)
    await set_disabled(db, "root", True)
    assert not await has_admin(db)


async def test_an_api_token_acts_as_its_user_until_revoked(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.UPLOADER)
    made = await create_token(db, "ada", "backup script")
    assert made.token.startswith(f"sf_{made.id}_")
    assert (await authenticate_token(db, made.token)).name == "ada"
    [row] = await list_tokens(db, "ada")
    assert row.last_used_at is not None
    assert row.label == "backup script"
    # only a digest is kept: the secret is nowhere in the database file
    secret = made.token.rsplit("_", 1)[-1]
    assert secret.encode() not in await everything_stored(db)

    await revoke_token(db, made.id)
    with pytest.raises(AuthenticationFailed):
        await authenticate_token(db, made.token)
    with pytest.raises(NotFound):
        await revoke_token(db, "nosuchtoken")


async def test_a_wrong_or_malformed_token_or_a_disabled_owner_is_refused(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.UPLOADER)
    made = await create_token(db, "ada")
    forged = made.token[:-4] + ("AAAA" if not made.token.endswith("AAAA") else "BBBB")
    other_id = "sf_" + "x" * 11 + made.token[14:]
    for bad in (forged, other_id, "", "sf_", "Bearer " + made.token, made.token[3:], "sf_abc"):
        with pytest.raises(AuthenticationFailed, match="invalid or revoked API token"):
            await authenticate_token(db, bad)
    await set_disabled(db, "ada", True)
    with pytest.raises(AuthenticationFailed):
        await authenticate_token(db, made.token)


async def test_a_users_tokens_go_with_the_user(db: Database) -> None:
    await create_user(db, "ada", GOOD, Role.UPLOADER)
    await create_token(db, "ada")
    async with db.session() as s:
        user = (await s.execute(select(User).where(User.name == "ada"))).scalar_one()
        await s.delete(user)
    async with db.read() as s:
        assert (await s.execute(select(ApiToken))).first() is None
