"""`streamforge user …` and `token …` as a script would run them: real processes, real files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamforge.auth.accounts import authenticate
from streamforge.auth.tokens import authenticate_token
from streamforge.config import load_settings
from streamforge.db.session import Database
from streamforge.errors import AuthenticationFailed
from tests.e2e.cli import cli, write_config

PASSWORD = "a long enough password"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def check(config: Path, *args: str, stdin: str | None = None) -> str:
    done = cli(config, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(config: Path, *args: str, stdin: str | None = None) -> str:
    done = cli(config, *args, stdin=stdin)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def on_db(config: Path, work: object) -> object:
    async def go() -> object:
        db = Database(load_settings(config).database_url)
        try:
            return await work(db)  # type: ignore[operator]
        finally:
            await db.close()

    return asyncio.run(go())


def test_an_admin_made_from_a_script_can_log_in(config: Path) -> None:
    check(config, "user", "add", "root", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    check(config, "user", "add", "ada", "--password-stdin", stdin=PASSWORD + "\n")
    listing = check(config, "user", "list").splitlines()
    assert listing[0].split() == ["ada", "uploader", "enabled", "0", "default:unlimited"]
    assert listing[1].split() == ["root", "admin", "enabled", "0", "unlimited"]
    account = on_db(config, lambda db: authenticate(db, "root", PASSWORD))
    assert account.role == "admin"  # type: ignore[attr-defined]


def test_passwd_role_disable_and_enable(config: Path) -> None:
    check(config, "user", "add", "ada", "--password-stdin", stdin=PASSWORD + "\n")
    check(config, "user", "passwd", "ada", "--password-stdin", stdin="the new password\r\n")
    check(config, "user", "role", "ada", "viewer")
    check(config, "user", "disable", "ada")
    assert check(config, "user", "list").split()[:3] == ["ada", "viewer", "disabled"]
    with pytest.raises(AuthenticationFailed):
        on_db(config, lambda db: authenticate(db, "ada", "the new password"))
    check(config, "user", "enable", "ada")
    assert on_db(config, lambda db: authenticate(db, "ada", "the new password"))


def test_mistakes_get_one_clear_line_and_change_nothing(config: Path) -> None:
    short = refused(config, "user", "add", "ada", "--password-stdin", stdin="short\n")
    assert short.strip() == "streamforge: error: the password must have at least 10 characters"
    no_tty = refused(config, "user", "add", "ada")
    assert "use --password-stdin" in no_tty
    bad_name = refused(config, "user", "add", "../x", "--password-stdin", stdin=PASSWORD)
    assert "invalid user name '../x'" in bad_name
    assert check(config, "user", "list") == ""
    check(config, "user", "add", "ada", "--password-stdin", stdin=PASSWORD)
    twice = refused(config, "user", "add", "ada", "--password-stdin", stdin=PASSWORD)
    assert "a user named 'ada' already exists" in twice
    assert "no user named 'bob'" in refused(config, "user", "disable", "bob")
    assert "no user named 'bob'" in refused(config, "token", "create", "bob")
    assert "no API token 'nope'" in refused(config, "token", "revoke", "nope")


def test_token_create_prints_the_token_alone_on_its_last_line(config: Path) -> None:
    check(config, "user", "add", "ada", "--password-stdin", stdin=PASSWORD)
    made = cli(config, "token", "create", "ada", "--label", "nightly import")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[-1]
    assert token.startswith("sf_")
    assert "shown once" in made.stderr
    account = on_db(config, lambda db: authenticate_token(db, token))
    assert account.name == "ada"  # type: ignore[attr-defined]

    listing = check(config, "token", "list", "ada")
    token_id = token[3:14]
    assert token_id in listing
    assert "nightly import" in listing
    assert token[15:] not in listing  # never the secret
    check(config, "token", "revoke", token_id)
    assert "revoked" in check(config, "token", "list")
    with pytest.raises(AuthenticationFailed):
        on_db(config, lambda db: authenticate_token(db, token))


def test_user_quota_sets_shows_and_resets_an_accounts_quota(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[auth]\ndefault_quota = 5000\n")
    check(config, "user", "add", "ada", "--password-stdin", stdin=PASSWORD)
    assert check(config, "user", "list").split()[3:] == ["0", "default:5000"]
    done = cli(config, "user", "quota", "ada", "1073741824")
    assert done.returncode == 0, done.stderr
    assert "quota of ada: 1.0 GiB (1073741824 bytes)" in done.stderr
    assert check(config, "user", "list").split()[3:] == ["0", "1073741824"]
    check(config, "user", "quota", "ada", "unlimited")
    assert check(config, "user", "list").split()[3:] == ["0", "unlimited"]
    check(config, "user", "quota", "ada", "default")
    assert check(config, "user", "list").split()[3:] == ["0", "default:5000"]
    bad = refused(config, "user", "quota", "ada", "10GB")
    assert "quota must be a number of bytes, 'unlimited' or 'default'" in bad
    assert "no user named 'bob'" in refused(config, "user", "quota", "bob", "5")
