"""Users: create, change password, enable/disable, authenticate."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from streamforge.auth.passwords import check_strength, hash_password, needs_rehash, verify_password
from streamforge.db.models import LoginSession, Role, User
from streamforge.db.session import Database
from streamforge.errors import AuthenticationFailed, InvalidRequest, NotFound

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Advisory lock id serialising first-run admin creation (see Database.serialize).
FIRST_ADMIN_LOCK = 0x5F_5346_4144_4D31


@dataclass(frozen=True)
class Account:
    """Who a request acts as: a plain value, safe to keep after its session has ended."""

    id: str
    name: str
    role: Role
    disabled: bool

    @classmethod
    def of(cls, user: User) -> Account:
        return cls(user.id, user.name, Role(user.role), bool(user.disabled))


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidRequest(
            f"invalid user name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


async def find_user(s: AsyncSession, name: str) -> User:
    user = (await s.execute(select(User).where(User.name == name))).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


async def create_user(
    db: Database, name: str, password: str, role: Role, *, first_admin: bool = False
) -> Account:
    """Create a user. ``first_admin``: only while no admin exists (checked in the same
    write transaction, so two set-up forms sent at once make one admin)."""
    check_name(name)
    check_strength(password)
    hashed = await hash_password(password)
    try:
        async with db.session() as s:
            if first_admin:
                await db.serialize(s, FIRST_ADMIN_LOCK)
            if first_admin and await _count_admins(s):
                raise NotFound("setup is done: an admin exists (log in instead)")
            user = User(name=name, password_hash=hashed, role=role)
            s.add(user)
            await s.flush()
            return Account.of(user)
    except IntegrityError as exc:
        raise InvalidRequest(f"a user named {name!r} already exists") from exc


async def set_password(db: Database, name: str, password: str, *, log_out: bool = True) -> None:
    """Change a password; unless ``log_out`` is False, every session of the user ends."""
    check_strength(password)
    hashed = await hash_password(password)
    async with db.session() as s:
        user = await find_user(s, name)
        user.password_hash = hashed
        if log_out:
            await s.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


async def set_disabled(db: Database, name: str, disabled: bool) -> None:
    """A disabled user can neither log in nor use their API tokens; their sessions end."""
    async with db.session() as s:
        user = await find_user(s, name)
        user.disabled = disabled
        if disabled:
            await s.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


async def set_role(db: Database, name: str, role: Role) -> None:
    async with db.session() as s:
        (await find_user(s, name)).role = role


async def list_users(db: Database) -> list[Account]:
    async with db.read() as s:
        return [
            Account.of(u) for u in (await s.execute(select(User).order_by(User.name))).scalars()
        ]


async def has_admin(db: Database) -> bool:
    """Whether an enabled admin exists (until one does, the first-run setup is open)."""
    async with db.read() as s:
        return await _count_admins(s) > 0


async def _count_admins(s: AsyncSession) -> int:
    query = select(func.count()).where(User.role == Role.ADMIN, User.disabled.is_(False))
    return int((await s.execute(query.select_from(User))).scalar_one())


async def authenticate(db: Database, name: str, password: str) -> Account:
    """The enabled user ``name`` whose password is ``password``.

    Every refusal says the same thing and takes about as long (an unknown name is checked
    against a dummy hash), so the answer does not tell which names exist.
    """
    async with db.read() as s:
        user = (await s.execute(select(User).where(User.name == name))).scalar_one_or_none()
        account = Account.of(user) if user is not None else None
        stored = user.password_hash if user is not None else None
    if not await verify_password(stored, password) or account is None or account.disabled:
        raise AuthenticationFailed("wrong user name or password")
    if stored is not None and needs_rehash(stored):
        await set_password(db, name, password, log_out=False)
    return account
