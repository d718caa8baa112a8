"""Upload quotas: how many bytes of uploads an account may keep.

An account's usage is the size of every video source it owns plus the declared length of
each of its uploads still under way (tus or direct, not yet expired): an upload reserves
its whole size when it is created, so bytes that have not arrived yet cannot be promised
twice. The limit is the account's own (``users.quota``) or ``[auth] default_quota``;
0 is unlimited, and admins are never limited (they may raise any quota anyway).

:func:`reserve` runs in the transaction that records the new upload, after locking the
account's row, so two uploads started at once cannot both squeeze under the limit
(SQLite's write transactions run one at a time; PostgreSQL waits on the row lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from streamforge.auth.accounts import find_user
from streamforge.config import Settings
from streamforge.db.models import Role, UploadSession, User, Video, utcnow
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, QuotaExceeded

UNLIMITED = 0


@dataclass(frozen=True)
class Usage:
    """Bytes an account uses, and its limit (None: unlimited)."""

    used: int
    limit: int | None

    @property
    def available(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def as_dict(self) -> dict[str, int | None]:
        return {"used": self.used, "limit": self.limit, "available": self.available}


@dataclass(frozen=True)
class AccountUsage:
    """One line of ``streamforge user list``."""

    name: str
    role: Role
    disabled: bool
    own_quota: int | None  # None: the default applies
    usage: Usage


def limit_of(role: Role, own_quota: int | None, settings: Settings) -> int | None:
    """The account's limit in bytes, or None when it is unlimited."""
    if role == Role.ADMIN:
        return None
    value = settings.auth.default_quota if own_quota is None else own_quota
    return None if value == UNLIMITED else value


def format_bytes(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``: sizes for people (the exact numbers go beside them)."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_quota(text: str) -> int | None:
    """``BYTES``, ``unlimited`` or ``default`` (None) as a ``user quota`` argument."""
    word = text.strip().lower()
    if word == "unlimited":
        return UNLIMITED
    if word == "default":
        return None
    if not (word.isascii() and word.isdigit()) or len(word) > 19:
        raise InvalidRequest(
            f"quota must be a number of bytes, 'unlimited' or 'default', found {text!r}"
        )
    return int(word)


async def used_bytes(s: AsyncSession, user_id: str) -> int:
    """Sources of the account's videos plus the lengths of its live unfinished uploads."""
    videos = select(func.coalesce(func.sum(Video.source_size), 0)).where(Video.owner_id == user_id)
    pending = select(func.coalesce(func.sum(UploadSession.length), 0)).where(
        UploadSession.owner_id == user_id,
        UploadSession.completed_at.is_(None),
        or_(UploadSession.expires_at.is_(None), UploadSession.expires_at > utcnow()),
    )
    total = 0
    for query in (videos, pending):
        total += int((await s.execute(query)).scalar_one() or 0)
    return total


async def usage_of(db: Database, settings: Settings, user_id: str) -> Usage:
    async with db.read() as s:
        user = await s.get(User, user_id)
        if user is None:
            return Usage(0, None)
        limit = limit_of(Role(user.role), user.quota, settings)
        return Usage(await used_bytes(s, user_id), limit)


async def reserve(s: AsyncSession, settings: Settings, user_id: str, requested: int) -> None:
    """Refuse (QuotaExceeded) an upload of ``requested`` bytes that does not fit; call it
    in the transaction that records the upload."""
    query = select(User).where(User.id == user_id).with_for_update()
    user = (await s.execute(query)).scalar_one_or_none()
    if user is None:
        return
    limit = limit_of(Role(user.role), user.quota, settings)
    if limit is None:
        return
    used = await used_bytes(s, user_id)
    if used + requested > limit:
        left = max(0, limit - used)
        raise QuotaExceeded(
            f"this upload needs {format_bytes(requested)}, but {user.name} has "
            f"{format_bytes(left)} left of a {format_bytes(limit)} quota "
            f"({format_bytes(used)} used): delete videos, or ask an administrator for more",
            used=used,
            quota=limit,
            requested=requested,
        )


async def check(db: Database, settings: Settings, user_id: str, requested: int) -> None:
    """:func:`reserve` on its own, before work that is costly to undo (an S3 upload)."""
    async with db.session() as s:
        await reserve(s, settings, user_id, requested)


async def set_quota(db: Database, name: str, quota: int | None) -> None:
    """Give account ``name`` its own quota (bytes; 0 unlimited), or None: the default."""
    async with db.session() as s:
        (await find_user(s, name)).quota = quota


async def list_usage(db: Database, settings: Settings) -> list[AccountUsage]:
    """Every account with its quota and usage, by name."""
    async with db.read() as s:
        users = list((await s.execute(select(User).order_by(User.name))).scalars())
        rows = []
        for user in users:
            role = Role(user.role)
            usage = Usage(await used_bytes(s, user.id), limit_of(role, user.quota, settings))
            rows.append(AccountUsage(user.name, role, bool(user.disabled), user.quota, usage))
        return rows
