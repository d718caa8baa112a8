"""Password hashing with Argon2id (argon2-cffi's recommended parameters).

Hashing costs tens of milliseconds of CPU on purpose, so it runs in a thread, off the
event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from streamforge.errors import InvalidRequest

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes anything; a megabyte "password" is a denial of service

_hasher = PasswordHasher()
#: Verified against when a name is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("streamforge: no such user")


def check_strength(password: str) -> None:
    """Refuse passwords that are too short or too long, saying why."""
    if len(password) < MIN_LENGTH:
        raise InvalidRequest(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidRequest(f"the password must have at most {MAX_LENGTH} characters")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; a missing hash costs the same time."""
    if len(password) > MAX_LENGTH:
        return False

    def verify() -> bool:
        try:
            return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored)
