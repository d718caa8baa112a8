"""The site's secret key: signs CSRF tokens and private media links.

``[auth] secret_key`` when set (the same on every web node); otherwise 32 random bytes
made once in ``<data_dir>/secret_key`` (mode 0600) and read from there afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from streamforge.config import Settings
from streamforge.errors import ConfigError

FILE_NAME = "secret_key"


def load_secret_key(settings: Settings) -> bytes:
    configured = settings.auth.secret_key.get_secret_value()
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    return _key_file(settings.data_dir / FILE_NAME)


def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole, then linked into place: when two processes start at once, one
        # key wins and both read it, never a half-written file
        draft = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    text = path.read_text().strip()
    if len(text) != 64:
        raise ConfigError(
            f"{path}: not a secret key written by StreamForge (64 hex digits); "
            "delete it to have a new one made (logins and media links start over)"
        )
    return bytes.fromhex(text)


def stored_digest(secret: str) -> str:
    """What is stored of a bearer secret (API token, session cookie, invite code): its
    SHA-256 in hex. The secrets are 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()
