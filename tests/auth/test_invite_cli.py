"""`streamforge invite …` as a script would run it: real processes, real files; the code in
the link it prints really registers an account, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamforge.auth.invites import register
from streamforge.db.models import Role
from streamforge.errors import InvalidRequest
from tests.auth.test_user_cli import check, on_db, refused
from tests.e2e.cli import cli, write_config

PASSWORD = "a long enough password"


def config_with(tmp_path: Path, registration: str) -> Path:
    config = write_config(tmp_path, f'[auth]\nregistration = "{registration}"\n')
    public = '[server]\npublic_url = "https://video.example.org"\n'
    config.write_text(config.read_text().replace("[server]\n", public, 1))
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return config_with(tmp_path, "invite")


def test_invite_create_prints_the_link_alone_on_its_last_line(config: Path) -> None:
    made = cli(config, "invite", "create", "--role", "uploader", "--days", "2")
    assert made.returncode == 0, made.stderr
    link = made.stdout.splitlines()[-1]
    assert link.startswith("https://video.example.org/register?invite=sfi_")
    assert "shown once" in made.stderr
    assert "note:" not in made.stderr  # registration is "invite" here
    code = link.split("invite=", 1)[1]
    account = on_db(config, lambda db: register(db, "ada", PASSWORD, role=Role.VIEWER, invite=code))
    assert account.role == "uploader"  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequest, match="used already"):
        on_db(config, lambda db: register(db, "bob", PASSWORD, role=Role.VIEWER, invite=code))
    [row] = check(config, "invite", "list").splitlines()
    assert row.split()[1:3] == ["uploader", "used"]
    assert row.split()[-1] == "ada"
    assert code not in row  # never the code


def test_the_default_role_list_and_revoke(config: Path) -> None:
    made = check(config, "invite", "create")
    code = made.splitlines()[-1].split("invite=", 1)[1]
    [row] = check(config, "invite", "list").splitlines()
    invite_id, role, state = row.split()[:3]
    assert (role, state) == ("viewer", "open")  # [auth] registration_role
    check(config, "invite", "revoke", invite_id)
    assert check(config, "invite", "list").split()[2] == "revoked"
    with pytest.raises(InvalidRequest, match="revoked"):
        on_db(config, lambda db: register(db, "ada", PASSWORD, role=Role.VIEWER, invite=code))


def test_mistakes_and_a_closed_registration(tmp_path: Path) -> None:
    config = config_with(tmp_path, "closed")
    made = cli(config, "invite", "create")
    assert made.returncode == 0, made.stderr
    assert 'registration is "closed"' in made.stderr  # the link would be a 404 for now
    assert "no invite 'nope'" in refused(config, "invite", "revoke", "nope")
    assert "at most 365 days" in refused(config, "invite", "create", "--days", "400")
    wrong_role = cli(config, "invite", "create", "--role", "admin")
    assert wrong_role.returncode == 2
    assert "Traceback" not in wrong_role.stderr
