"""The account page (``/account``): password change, own API tokens, quota, invites for
admins — through the app's test client with a real login (cookie and CSRF), in both
built-in themes, the token JSON under ``/api/v1/me/tokens``, and the page in Chromium
under the Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from streamforge.app import create_app
from streamforge.auth.accounts import create_user
from streamforge.db.models import Role
from streamforge.runtime import Runtime
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(params=["default", "cinema"])
async def site(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Quart]:
    """The app in each built-in theme, with a 1 MiB default quota."""
    settings = make_settings(
        tmp_path,
        STREAMFORGE_THEMES__ACTIVE=request.param,
        STREAMFORGE_AUTH__DEFAULT_QUOTA=str(1024 * 1024),
        STREAMFORGE_AUTH__REGISTRATION="invite",
    )
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        yield app


def rt_of(app: Quart) -> Runtime:
    rt: Runtime = app.extensions["streamforge"].runtime
    return rt


async def logged_in(app: Quart, name: str, role: Role = Role.UPLOADER) -> tuple[Any, str]:
    """A browser-like client logged in as a new user ``name``, and its CSRF token."""
    await create_user(rt_of(app).db, name, PASSWORD, role)
    client = app.test_client()
    login = await client.post("/login", form={"name": name, "password": PASSWORD, "next": "/"})
    assert login.status_code == 303
    return client, await csrf_of(client)


async def csrf_of(client: Any) -> str:
    html = await (await client.get("/account")).get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def text_of(response: Any) -> str:
    return str(await response.get_data(as_text=True))


async def test_the_page_needs_a_login_and_shows_the_quota(site: Quart) -> None:
    anonymous = await site.test_client().get("/account")
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/login?next=%2Faccount"
    client, _ = await logged_in(site, "ada")
    page = await client.get("/account")
    assert page.status_code == 200
    html = await text_of(page)
    assert 'You use <span class="quota-used">0 Bytes</span> of' in html
    assert "1.0 MiB" in html
    assert 'href="/account"' in html  # the header's account link
    assert "Invites" not in html  # for admins only
    theme = site.extensions["streamforge"].settings.themes.active
    assert ("cinema.css" if theme == "cinema" else "style.css") in html


async def test_tokens_are_shown_once_and_revoked_from_the_page(site: Quart) -> None:
    client, csrf = await logged_in(site, "ada")
    forged = await client.post("/account/tokens", form={"label": "laptop"})
    assert forged.status_code == 403  # no CSRF token: refused
    made = await client.post("/account/tokens", form={"label": "laptop", "csrf_token": csrf})
    assert made.status_code == 201
    token = re.search(r'value="(sf_[^"]+)"', await text_of(made))
    assert token, "the new token is not on the page"
    api = bearer_client(site, token.group(1))
    assert (await (await api.get("/api/v1/me")).get_json())["name"] == "ada"
    again = await text_of(await client.get("/account"))
    assert token.group(1) not in again  # once only
    token_id = re.search(r'data-token-id="([^"]+)"', again)
    assert token_id
    revoked = await client.post(
        f"/account/tokens/{token_id.group(1)}/revoke", form={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert "was revoked" in await text_of(await client.get(revoked.headers["Location"]))
    assert (await api.get("/api/v1/me")).status_code == 401
    # someone else's token cannot be revoked through your page
    _, other_token = await make_account(rt_of(site).db, "bob", Role.UPLOADER)
    other_id = other_token.split("_")[1]
    theirs = await client.post(f"/account/tokens/{other_id}/revoke", form={"csrf_token": csrf})
    assert theirs.status_code == 404
    assert (await bearer_client(site, other_token).get("/api/v1/me")).status_code == 200


async def test_changing_the_password(site: Quart) -> None:
    client, csrf = await logged_in(site, "ada")
    elsewhere = site.test_client()
    await elsewhere.post("/login", form={"name": "ada", "password": PASSWORD, "next": "/"})
    assert (await elsewhere.get("/api/v1/me")).status_code == 200

    def change(current: str, new: str, again: str | None = None) -> dict[str, str]:
        return {"current": current, "password": new, "password2": again or new, "csrf_token": csrf}

    wrong = await client.post("/account/password", form=change("not it at all", NEW_PASSWORD))
    assert wrong.status_code == 400
    assert "the current password is wrong" in await text_of(wrong)
    differ = await client.post(
        "/account/password", form=change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
    )
    assert "the two new passwords differ" in await text_of(differ)
    short = await client.post("/account/password", form=change(PASSWORD, "short"))
    assert "at least 10 characters" in await text_of(short)
    done = await client.post("/account/password", form=change(PASSWORD, NEW_PASSWORD))
    assert done.status_code == 303
    assert done.headers["Location"] == "/account?done=password"
    assert "sf_session=" in done.headers["Set-Cookie"]  # this browser stays logged in
    assert "Your password was changed" in await text_of(await client.get("/account?done=password"))
    assert (await elsewhere.get("/api/v1/me")).status_code == 401  # every other session ended
    fresh = site.test_client()
    old = await fresh.post("/login", form={"name": "ada", "password": PASSWORD, "next": "/"})
    assert old.status_code == 401
    new = await fresh.post("/login", form={"name": "ada", "password": NEW_PASSWORD, "next": "/"})
    assert new.status_code == 303


async def test_a_token_cannot_change_the_password(site: Quart) -> None:
    _, token = await make_account(rt_of(site).db, "ada", Role.UPLOADER, password=PASSWORD)
    api = bearer_client(site, token)
    form = {"current": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert (await api.post("/account/password", form=form)).status_code == 403


async def test_admins_make_and_revoke_invites_on_the_page(site: Quart) -> None:
    client, csrf = await logged_in(site, "root", Role.ADMIN)
    page = await text_of(await client.get("/account"))
    assert "Invites" in page
    made = await client.post(
        "/account/invites", form={"role": "uploader", "days": "3", "csrf_token": csrf}
    )
    assert made.status_code == 201
    link = re.search(r'value="(http[^"]+/register\?invite=(sfi_[^"]+))"', await text_of(made))
    assert link, "the invite link is not on the page"
    registering = await site.test_client().get(f"/register?invite={link.group(2)}")
    assert registering.status_code == 200
    assert "makes you an <strong>uploader</strong>" in await text_of(registering)
    invite_id = re.search(r'data-invite-id="([^"]+)"', await text_of(await client.get("/account")))
    assert invite_id
    revoked = await client.post(
        f"/account/invites/{invite_id.group(1)}/revoke", form={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    listed = await text_of(await client.get("/account"))
    assert "revoked" in listed
    bad = await client.post("/account/invites", form={"role": "admin", "csrf_token": csrf})
    assert bad.status_code == 400
    viewer, viewer_csrf = await logged_in(site, "eve", Role.VIEWER)
    refused = await viewer.post(
        "/account/invites", form={"role": "viewer", "csrf_token": viewer_csrf}
    )
    assert refused.status_code == 403


async def test_the_token_api(site: Quart) -> None:
    _, token = await make_account(rt_of(site).db, "ada", Role.VIEWER)
    api = bearer_client(site, token)
    made = await api.post("/api/v1/me/tokens", json={"label": "ci"})
    assert made.status_code == 201
    body = await made.get_json()
    assert body["token"].startswith(f"sf_{body['id']}_")
    listed = await (await api.get("/api/v1/me/tokens")).get_json()
    assert [t["label"] for t in listed["items"]] == ["", "ci"]
    assert all("token" not in t for t in listed["items"])
    assert (await api.delete(f"/api/v1/me/tokens/{body['id']}")).status_code == 204
    assert (await bearer_client(site, body["token"]).get("/api/v1/me")).status_code == 401
    _, other = await make_account(rt_of(site).db, "bob", Role.VIEWER)
    other_id = other.split("_")[1]
    assert (await api.delete(f"/api/v1/me/tokens/{other_id}")).status_code == 404
    assert (await site.test_client().get("/api/v1/me/tokens")).status_code == 401


# -- in Chromium ------------------------------------------------------------------------------

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.mark.slow
def test_the_page_works_in_chromium_without_a_csp_violation(browser: Any, tmp_path: Path) -> None:
    from tests.authn import log_in
    from tests.e2e.cli import running_server, write_config

    config = write_config(tmp_path, '[auth]\nregistration = "invite"\n')
    with running_server(config) as server:
        page = browser.new_page()
        page.add_init_script(WATCH_VIOLATIONS)
        log_in(page, server.url)
        page.goto(server.url + "/account")
        page.fill("input[name=label]", "from chromium")
        with page.expect_navigation():
            page.click("form[action='/account/tokens'] button[type=submit]")
        token = page.input_value("input.secret")
        assert token.startswith("sf_")
        page.select_option("select[name=role]", "uploader")
        with page.expect_navigation():
            page.click("form[action='/account/invites'] button[type=submit]")
        link = page.input_value("input.secret")
        assert "/register?invite=sfi_" in link
        assert page.evaluate("window.__csp") == []
        # logged out, the link opens the registration form, which makes the account
        with page.expect_navigation():
            page.click("form.logout button[type=submit]")
        page.goto(link)
        page.fill("input[name=name]", "newcomer")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        with page.expect_navigation():
            page.click("form[action='/register'] button[type=submit]")
        page.goto(server.url + "/account")
        assert "newcomer" in page.inner_text("h1")
        assert "uploader" in page.inner_text("h1")
        assert page.evaluate("window.__csp") == []
