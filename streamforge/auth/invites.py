"""Invites and registration: single-use codes an admin hands out, and making an account
at ``/register`` with one (or without, when registration is open).

A code is ``sfi_`` and 256 random bits; only its SHA-256 is stored (like API tokens), and
the plain code is shown once, when made. A code works once, until it expires or is
revoked; using it and making the account happen in one transaction, so two people racing
with one code make one account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from streamforge.auth.accounts import Account, check_name
from streamforge.auth.passwords import check_strength, hash_password
from streamforge.auth.secret import stored_digest
from streamforge.db.models import Invite, Role, User, utcnow
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest, NotFound

PREFIX = "sfi_"
DEFAULT_DAYS = 7.0
MAX_DAYS = 365.0
#: Roles an invite may give (an admin is made by an admin: `streamforge user role`).
ROLES = (Role.VIEWER, Role.UPLOADER)


@dataclass(frozen=True)
class NewInvite:
    id: str
    role: Role
    expires_at: datetime
    code: str  # the only time the plain code exists


@dataclass(frozen=True)
class InviteInfo:
    id: str
    role: Role
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        """``open``, ``used``, ``revoked`` or ``expired``."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= utcnow() else "open"


def _digest(code: str) -> str:
    return stored_digest(code.strip())


async def create_invite(
    db: Database, role: Role, *, days: float = DEFAULT_DAYS, created_by: str | None = None
) -> NewInvite:
    """A new invite giving ``role``, valid for ``days``; ``created_by`` is a user id."""
    if role not in ROLES:
        raise InvalidRequest(f"an invite gives the role viewer or uploader, not {role}")
    if not 0 < days <= MAX_DAYS:
        raise InvalidRequest(f"an invite lasts more than 0 and at most {MAX_DAYS:g} days")
    code = PREFIX + secrets.token_urlsafe(32)
    row = Invite(
        code_hash=_digest(code),
        role=role,
        created_by=created_by,
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=days),
    )
    async with db.session() as s:
        s.add(row)
        await s.flush()
        return NewInvite(row.id, role, row.expires_at, code)


async def list_invites(db: Database) -> list[InviteInfo]:
    """Every invite, newest first; never the codes."""
    maker, user = aliased(User), aliased(User)
    query = (
        select(Invite, maker.name, user.name)
        .outerjoin(maker, maker.id == Invite.created_by)
        .outerjoin(user, user.id == Invite.used_by)
        .order_by(Invite.created_at.desc(), Invite.id)
    )
    async with db.read() as s:
        return [
            InviteInfo(
                i.id,
                Role(i.role),
                made_by,
                i.created_at,
                i.expires_at,
                i.used_at,
                used_by,
                i.revoked_at,
            )
            for i, made_by, used_by in (await s.execute(query)).all()
        ]


async def revoke_invite(db: Database, invite_id: str) -> None:
    """Make an invite unusable (a used one stays as it is: its account is not touched)."""
    async with db.session() as s:
        row = await s.get(Invite, invite_id)
        if row is None:
            raise NotFound(f"no invite {invite_id!r}")
        if row.revoked_at is None and row.used_at is None:
            row.revoked_at = utcnow()


async def invite_role(db: Database, code: str) -> Role:
    """The role a usable invite gives; InvalidRequest saying why otherwise."""
    async with db.read() as s:
        query = select(Invite).where(Invite.code_hash == _digest(code))
        row = (await s.execute(query)).scalar_one_or_none()
        _check_usable(row)
        assert row is not None
        return Role(row.role)


def _check_usable(row: Invite | None) -> None:
    if row is None:
        raise InvalidRequest("this invite code is not valid: check the link you were sent")
    if row.used_at is not None:
        raise InvalidRequest("this invite has been used already: ask for a new one")
    if row.revoked_at is not None:
        raise InvalidRequest("this invite was revoked: ask for a new one")
    if row.expires_at <= utcnow():
        raise InvalidRequest("this invite has expired: ask for a new one")


async def register(
    db: Database, name: str, password: str, *, role: Role, invite: str | None = None
) -> Account:
    """Make an account ``name``: with ``invite``, of the invite's role (using the invite
    up); without, of ``role``. Whether registration is allowed is the caller's question."""
    check_name(name)
    check_strength(password)
    if invite is not None:
        role = await invite_role(db, invite)  # a clear answer before the slow hash
    hashed = await hash_password(password)
    now = utcnow()
    try:
        async with db.session() as s:
            user = User(name=name, password_hash=hashed, role=role)
            s.add(user)
            await s.flush()
            if invite is not None:
                used = await s.execute(
                    update(Invite)
                    .where(
                        Invite.code_hash == _digest(invite),
                        Invite.used_at.is_(None),
                        Invite.revoked_at.is_(None),
                        Invite.expires_at > now,
                    )
                    .values(used_at=now, used_by=user.id)
                )
                if used.rowcount != 1:  # type: ignore[attr-defined]
                    # someone used it (or it was revoked) since it was checked
                    row = (
                        await s.execute(select(Invite).where(Invite.code_hash == _digest(invite)))
                    ).scalar_one_or_none()
                    _check_usable(row)
                    raise InvalidRequest("this invite cannot be used: ask for a new one")
            return Account.of(user)
    except IntegrityError as exc:
        raise InvalidRequest(f"a user named {name!r} already exists: pick another name") from exc
