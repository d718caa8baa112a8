"""Registration at ``/register`` in each ``[auth] registration`` mode, invites (single use,
expiry, revocation, a race for one code) and the invite API, through the app's test client
on real databases."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import update

from streamforge.app import create_app
from streamforge.auth import invites
from streamforge.db.models import Invite, Role, utcnow
from streamforge.db.session import Database
from streamforge.errors import InvalidRequest
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


def form(name: str, *, invite: str = "", password: str = PASSWORD) -> dict[str, str]:
    return {"name": name, "password": password, "password2": password, "invite": invite}


def auth(**values: object) -> pytest.MarkDecorator:
    """Run the test on a ``site`` with these ``[auth]`` settings."""
    return pytest.mark.parametrize("site", [values], indirect=True, ids=[""])


@pytest.fixture
async def site(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Quart]:
    """The app, with the ``[auth]`` settings of :func:`auth` (else the defaults)."""
    values = getattr(request, "param", {})
    env = {f"STREAMFORGE_AUTH__{k.upper()}": str(v) for k, v in values.items()}
    app = create_app(make_settings(tmp_path, **env), run_jobs=False)
    async with app.test_app():
        yield app


def runtime_of(app: Quart) -> Runtime:
    rt: Runtime = app.extensions["streamforge"].runtime
    return rt


async def me(client: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/me")
    assert response.status_code == 200, await response.get_data()
    body: dict[str, Any] = await response.get_json()
    return body


async def test_closed_registration_is_a_404_page_that_says_so(site: Quart) -> None:
    client = site.test_client()
    for response in (
        await client.get("/register"),
        await client.post("/register", form=form("ada")),
    ):
        assert response.status_code == 404
        assert "registration is closed" in await response.get_data(as_text=True)
    home = await (await client.get("/")).get_data(as_text=True)
    assert 'href="/register"' not in home  # no link to a closed door


@auth(registration="open")
async def test_open_registration_makes_a_viewer_and_logs_them_in(site: Quart) -> None:
    client = site.test_client()
    home = await (await client.get("/")).get_data(as_text=True)
    assert 'href="/register"' in home
    page = await client.get("/register")
    assert page.status_code == 200
    assert "New accounts can watch videos" in await page.get_data(as_text=True)
    made = await client.post("/register", form=form("ada"))
    assert made.status_code == 303, await made.get_data()
    assert made.headers["Set-Cookie"].startswith("sf_session=")
    assert (await me(client))["role"] == "viewer"
    # logged in: the form sends you to your account instead
    assert (await client.get("/register")).headers["Location"] == "/account"


@auth(registration="open", registration_role="uploader")
async def test_registration_role_uploader(site: Quart) -> None:
    client = site.test_client()
    assert (await client.post("/register", form=form("ada"))).status_code == 303
    assert (await me(client))["role"] == "uploader"


@auth(registration="open")
async def test_bad_names_passwords_and_taken_names_get_the_form_back(site: Quart) -> None:
    client = site.test_client()
    cases = {
        "invalid user name '../x'": form("../x"),
        "at least 10 characters": form("ada", password="short"),
        "the two passwords differ": {**form("ada"), "password2": "something else entirely"},
    }
    for message, fields in cases.items():
        response = await client.post("/register", form=fields)
        assert response.status_code == 400
        html = await response.get_data(as_text=True)
        assert message in html.replace("&#39;", "'"), message
        assert "Set-Cookie" not in response.headers
    await make_account(runtime_of(site).db, "ada", Role.VIEWER)
    taken = await client.post("/register", form=form("ada"))
    assert taken.status_code == 400
    assert "already exists" in await taken.get_data(as_text=True)


@auth(registration="open", register_attempts_per_address=2)
async def test_registration_is_throttled_per_address(site: Quart) -> None:
    client = site.test_client()
    for _ in range(2):
        assert (await client.post("/register", form=form("../x"))).status_code == 400
    throttled = await client.post("/register", form=form("ada"))
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "too many registrations" in await throttled.get_data(as_text=True)


@auth(registration="open")
async def test_a_form_from_another_site_is_refused(site: Quart) -> None:
    client = site.test_client()
    foreign = await client.post(
        "/register", form=form("ada"), headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert foreign.status_code == 403


@auth(registration="invite")
async def test_invite_registration_uses_the_code_once(site: Quart) -> None:
    db = runtime_of(site).db
    client = site.test_client()
    page = await (await client.get("/register")).get_data(as_text=True)
    assert "needs an invite" in page
    without = await client.post("/register", form=form("ada"))
    assert without.status_code == 400
    assert "needs an invite" in await without.get_data(as_text=True)

    made = await invites.create_invite(db, Role.UPLOADER, days=1)
    await make_account(db, "taken", Role.VIEWER)
    taken = await client.post("/register", form=form("taken", invite=made.code))
    assert taken.status_code == 400  # and the invite, not used up, still works:
    link = await client.get(f"/register?invite={made.code}")
    html = await link.get_data(as_text=True)
    assert "Your invite makes you an <strong>uploader</strong>" in html
    assert re.search(rf'name="invite" value="{re.escape(made.code)}"', html)
    assert (await client.post("/register", form=form("ada", invite=made.code))).status_code == 303
    assert (await me(client))["role"] == "uploader"

    again = site.test_client()
    reused = await again.post("/register", form=form("bob", invite=made.code))
    assert reused.status_code == 400
    assert "used already" in await reused.get_data(as_text=True)
    assert (await again.get(f"/register?invite={made.code}")).status_code == 400
    [listed] = await invites.list_invites(db)
    assert (listed.state, listed.used_by) == ("used", "ada")


@auth(registration="open")
async def test_an_invite_in_open_mode_gives_its_role(site: Quart) -> None:
    made = await invites.create_invite(runtime_of(site).db, Role.UPLOADER)
    client = site.test_client()
    assert (await client.post("/register", form=form("ada", invite=made.code))).status_code == 303
    assert (await me(client))["role"] == "uploader"


async def test_expired_revoked_and_unknown_invites(db: Database) -> None:
    expired = await invites.create_invite(db, Role.VIEWER)
    async with db.session() as s:
        await s.execute(
            update(Invite)
            .where(Invite.id == expired.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    revoked = await invites.create_invite(db, Role.VIEWER)
    await invites.revoke_invite(db, revoked.id)
    for code, why in (
        (expired.code, "expired"),
        (revoked.code, "revoked"),
        ("sfi_nonsense", "not valid"),
    ):
        with pytest.raises(InvalidRequest, match=why):
            await invites.register(db, "ada", PASSWORD, role=Role.VIEWER, invite=code)
    states = {i.id: i.state for i in await invites.list_invites(db)}
    assert states == {expired.id: "expired", revoked.id: "revoked"}
    with pytest.raises(InvalidRequest, match="viewer or uploader"):
        await invites.create_invite(db, Role.ADMIN)
    with pytest.raises(InvalidRequest, match="at most 365 days"):
        await invites.create_invite(db, Role.VIEWER, days=1000)


async def test_two_people_racing_with_one_invite_make_one_account(db: Database) -> None:
    made = await invites.create_invite(db, Role.UPLOADER)
    results = await asyncio.gather(
        *(
            invites.register(db, f"racer{i}", PASSWORD, role=Role.VIEWER, invite=made.code)
            for i in range(4)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, InvalidRequest) for r in results if r not in winners)
    [listed] = await invites.list_invites(db)
    assert listed.used_by == winners[0].name


async def test_the_invite_api(site: Quart) -> None:
    db = runtime_of(site).db
    _, token = await make_account(db, "root", Role.ADMIN)
    admin = bearer_client(site, token)
    made = await admin.post("/api/v1/invites", json={"role": "uploader", "days": 2})
    assert made.status_code == 201
    body = await made.get_json()
    assert body["code"].startswith("sfi_")
    assert body["url"].endswith(f"/register?invite={body['code']}")
    listed = await (await admin.get("/api/v1/invites")).get_json()
    assert [(i["id"], i["role"], i["state"], i["created_by"]) for i in listed["items"]] == [
        (body["id"], "uploader", "open", "root")
    ]
    assert "code" not in listed["items"][0]
    refused = await admin.post("/api/v1/invites", json={"role": "admin"})
    assert refused.status_code == 400
    assert (await admin.delete(f"/api/v1/invites/{body['id']}")).status_code == 204
    listed = await (await admin.get("/api/v1/invites")).get_json()
    assert listed["items"][0]["state"] == "revoked"
    assert (await admin.delete("/api/v1/invites/nonexistent")).status_code == 404
