"""Logging in and out, first-run setup, CSRF and API tokens, through the app's test client
on a real SQLite file."""

from __future__ import annotations

import re

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from streamforge.auth.accounts import create_user
from streamforge.auth.tokens import create_token, revoke_token
from streamforge.db.models import Role
from streamforge.runtime import Runtime

PASSWORD = "correct horse battery"


@pytest.fixture
def client(anon: Client) -> Client:
    """Logging in is for visitors who are not (the shared ``client`` is an admin's)."""
    return anon


def session_cookie(response: object) -> str:
    header = response.headers.get("Set-Cookie", "")  # type: ignore[attr-defined]
    assert header.startswith("sf_session="), header
    return str(header)


async def csrf_of(client: Client) -> str:
    page = await (await client.get("/login")).get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([0-9a-f]*)"', page)
    assert found is not None, "the page carries no csrf-token meta"
    return found.group(1)


async def log_in(client: Client, name: str, password: str = PASSWORD) -> object:
    return await client.post("/login", form={"name": name, "password": password, "next": "/"})


async def test_first_run_setup_makes_one_admin_and_then_is_gone(
    client: Client,
) -> None:
    assert (await client.get("/login")).headers["Location"] == "/setup"
    page = await client.get("/setup")
    assert page.status_code == 200
    assert "first administrator" in await page.get_data(as_text=True)

    differ = await client.post(
        "/setup", form={"name": "root", "password": PASSWORD, "password2": PASSWORD + "x"}
    )
    assert differ.status_code == 400
    assert "the two passwords differ" in await differ.get_data(as_text=True)

    made = await client.post(
        "/setup", form={"name": "root", "password": PASSWORD, "password2": PASSWORD}
    )
    assert made.status_code == 303
    cookie = session_cookie(made)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here
    me = await client.get("/api/v1/me")
    assert (await me.get_json())["role"] == "admin"

    assert (await client.get("/setup")).status_code == 404
    again = await client.post(
        "/setup", form={"name": "eve", "password": PASSWORD, "password2": PASSWORD}
    )
    assert again.status_code in (403, 404)  # CSRF (logged in) or gone: never a second admin


async def test_login_logout_and_session_rotation(app: Quart, client: Client, rt: Runtime) -> None:
    await create_user(rt.db, "root", PASSWORD, Role.ADMIN)
    await create_user(rt.db, "ada", PASSWORD, Role.UPLOADER)
    wrong = await log_in(client, "ada", "not the password")
    assert wrong.status_code == 401
    assert "wrong user name or password" in await wrong.get_data(as_text=True)
    assert (await client.get("/api/v1/me")).status_code == 401

    first = await log_in(client, "ada")
    assert first.status_code == 303
    assert first.headers["Location"] == "/"
    first_cookie = session_cookie(first).split(";")[0].split("=", 1)[1]
    assert (await (await client.get("/api/v1/me")).get_json())["name"] == "ada"

    # logging in again replaces the session: the old cookie is dead
    csrf = await csrf_of(client)
    second = await client.post(
        "/login", form={"name": "ada", "password": PASSWORD, "csrf_token": csrf}
    )
    assert second.status_code == 303
    other = app.test_client()
    other.set_cookie("localhost", "sf_session", first_cookie)
    assert (await other.get("/api/v1/me")).status_code == 401

    refused = await client.post("/logout")
    assert refused.status_code == 403  # no CSRF token
    assert (await client.get("/api/v1/me")).status_code == 200
    out = await client.post("/logout", form={"csrf_token": await csrf_of(client)})
    assert out.status_code == 303
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_next_never_leaves_the_site(client: Client, rt: Runtime) -> None:
    await create_user(rt.db, "root", PASSWORD, Role.ADMIN)
    for target, expected in [
        ("/v/abc", "/v/abc"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ]:
        done = await client.post(
            "/login", form={"name": "root", "password": PASSWORD, "next": target}
        )
        assert done.headers["Location"] == expected, target
        await client.post("/logout", form={"csrf_token": await csrf_of(client)})


async def test_a_login_form_from_another_site_is_refused(client: Client, rt: Runtime) -> None:
    await create_user(rt.db, "root", PASSWORD, Role.ADMIN)
    for headers in (
        {"Origin": "https://evil.example"},  # a browser without Sec-Fetch-*
        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.org"},
    ):
        response = await client.post(
            "/login", form={"name": "root", "password": PASSWORD}, headers=headers
        )
        assert response.status_code == 403, headers
    # our own form, as a browser sends it under Referrer-Policy: no-referrer
    ours = await client.post(
        "/login",
        form={"name": "root", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
    )
    assert ours.status_code == 303
    await client.post("/logout", form={"csrf_token": await csrf_of(client)})
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_brute_force_is_throttled_per_account(client: Client, rt: Runtime) -> None:
    await create_user(rt.db, "root", PASSWORD, Role.ADMIN)
    for _ in range(rt.settings.auth.login_attempts_per_account):
        assert (await log_in(client, "root", "guess guess guess")).status_code == 401
    locked = await log_in(client, "root")  # even the right password waits now
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= rt.settings.auth.login_window
    assert "too many failed logins" in await locked.get_data(as_text=True)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_an_api_token_needs_no_csrf_and_a_bad_one_is_a_401(
    client: Client, rt: Runtime
) -> None:
    await create_user(rt.db, "ada", PASSWORD, Role.UPLOADER)
    made = await create_token(rt.db, "ada")
    bearer = {"Authorization": f"Bearer {made.token}"}
    me = await client.get("/api/v1/me", headers=bearer)
    assert (await me.get_json())["name"] == "ada"
    await revoke_token(rt.db, made.id)
    revoked = await client.get("/api/v1/me", headers=bearer)
    assert revoked.status_code == 401
    body = await revoked.get_json()
    assert body["error"]["message"] == "invalid or revoked API token"
    junk = await client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"})
    assert junk.status_code == 401
