"""X-Forwarded-For / X-Forwarded-Proto believed from ``[server] trusted_proxies`` only:
the parsing, the config, the app through its test client with the peer address set in the
ASGI scope, and a real ``streamforge serve`` behind a pretend proxy on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.testing.connections import WebsocketResponseError
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from streamforge.auth.accounts import create_user
from streamforge.config import Settings, load_settings
from streamforge.db.models import LoginFailure, Role
from streamforge.errors import ConfigError
from streamforge.runtime import Runtime
from streamforge.web.proxies import TrustedProxies, parse_address
from tests.authn import PASSWORD
from tests.conftest import make_settings
from tests.e2e.cli import running_server, write_config

PROXY = ("10.0.0.2", 41000)  # in trusted_proxies below
STRANGER = ("198.51.100.7", 41000)  # not
ATTEMPTS_PER_ADDRESS = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        STREAMFORGE_SERVER__TRUSTED_PROXIES='["10.0.0.0/24", "fd00::1"]',
        STREAMFORGE_AUTH__LOGIN_ATTEMPTS_PER_ADDRESS=str(ATTEMPTS_PER_ADDRESS),
        STREAMFORGE_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT="100",
    )


# -- parsing --------------------------------------------------------------------------------


def test_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    proxies = TrustedProxies(["10.0.0.0/24", "fd00::1"])
    peer = parse_address("10.0.0.2")
    assert peer is not None

    def client(*hops: str) -> str:
        return str(proxies.client(peer, list(hops)))

    assert client() == "10.0.0.2"  # no header: the proxy itself
    assert client("203.0.113.9") == "203.0.113.9"
    # what the client wrote itself sits left of the address the proxy saw: ignored
    assert client("1.2.3.4", "203.0.113.9") == "203.0.113.9"
    assert client("1.2.3.4", "203.0.113.9", "10.0.0.7", "fd00::1") == "203.0.113.9"
    assert client("10.0.0.9", "10.0.0.8") == "10.0.0.9"  # all proxies: the leftmost
    assert client("203.0.113.9", "not-an-address") == "10.0.0.2"  # garbage: stop at the proxy
    assert client("[2001:db8::5]:4711") == "2001:db8::5"
    assert client("203.0.113.9:4711") == "203.0.113.9"


def test_mapped_ipv6_peers_count_as_their_ipv4_address() -> None:
    assert str(parse_address("::ffff:10.0.0.2")) == "10.0.0.2"
    assert TrustedProxies(["10.0.0.2"]).trusts(parse_address("::ffff:10.0.0.2"))
    assert not TrustedProxies([]).trusts(parse_address("10.0.0.2"))
    assert parse_address("unix:/run/x.sock") is None


# -- config -----------------------------------------------------------------------------------


def test_trusted_proxies_are_normalised() -> None:
    settings = load_settings(
        None, environ={"STREAMFORGE_SERVER__TRUSTED_PROXIES": '["127.0.0.1", " 10.0.0.0/8 "]'}
    )
    assert settings.server.trusted_proxies == ["127.0.0.1/32", "10.0.0.0/8"]
    assert load_settings(None, environ={}).server.trusted_proxies == []


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("10.0.0.300", "'10.0.0.300' is not an IP address or network"),
        ("proxy.example.org", "'proxy.example.org' is not an IP address or network"),
        ("10.0.0.1/8", "'10.0.0.1/8' has host bits set: write '10.0.0.0/8'"),
    ],
)
def test_a_bad_trusted_proxy_is_a_clear_config_error(tmp_path: Path, entry: str, says: str) -> None:
    config = tmp_path / "streamforge.toml"
    config.write_text(f'[server]\ntrusted_proxies = ["127.0.0.1", "{entry}"]\n')
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    message = str(error.value)
    assert message.startswith(f"{config}: [server] trusted_proxies: {says}"), message
    assert "\n" not in message


# -- the app ------------------------------------------------------------------------------------


async def fail_login(client: Client, name: str, peer: tuple[str, int], **headers: str) -> int:
    response = await client.post(
        "/login",
        form={"name": name, "password": "guess guess guess"},
        headers=headers,
        scope_base={"client": peer},
    )
    return response.status_code


async def throttled_addresses(rt: Runtime) -> set[str]:
    async with rt.db.read() as s:
        keys = (await s.execute(select(LoginFailure.key))).scalars().all()
    return {k.removeprefix("address:") for k in keys if k.startswith("address:")}


async def test_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(
    anon: Client, rt: Runtime
) -> None:
    # a brute force rotating X-Forwarded-For (and account names) is still one address
    for n in range(ATTEMPTS_PER_ADDRESS):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}", "X-Forwarded-Proto": "https"}
        assert await fail_login(anon, f"user{n}", STRANGER, **spoofed) == 401
    assert await fail_login(anon, "user9", STRANGER, **{"X-Forwarded-For": "203.0.113.99"}) == 429
    assert await throttled_addresses(rt) == {STRANGER[0]}


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    anon: Client, rt: Runtime
) -> None:
    # many clients behind one proxy: each has its own count, the proxy none
    for n in range(ATTEMPTS_PER_ADDRESS + 2):
        forwarded = {"X-Forwarded-For": f"1.2.3.4, 203.0.113.{n}"}
        assert await fail_login(anon, f"user{n}", PROXY, **forwarded) == 401
    for n in range(ATTEMPTS_PER_ADDRESS - 1):  # one client keeps trying: it is stopped
        forwarded = {"X-Forwarded-For": "203.0.113.0"}
        assert await fail_login(anon, f"again{n}", PROXY, **forwarded) == 401
    assert await fail_login(anon, "again9", PROXY, **{"X-Forwarded-For": "203.0.113.0"}) == 429
    # and the proxy's address itself was never counted (nor what the clients made up)
    assert await throttled_addresses(rt) == {f"203.0.113.{n}" for n in range(5)}


async def log_in(client: Client, peer: tuple[str, int], **headers: str) -> Any:
    return await client.post(
        "/login",
        form={"name": "root", "password": PASSWORD},
        headers=headers,
        scope_base={"client": peer},
    )


async def test_the_session_cookie_is_secure_only_when_a_trusted_proxy_says_https(
    app: Quart, rt: Runtime
) -> None:
    await create_user(rt.db, "root", PASSWORD, Role.ADMIN)
    https = {"X-Forwarded-Proto": "https"}
    spoofed = await log_in(app.test_client(), STRANGER, **https)
    assert spoofed.status_code == 303
    assert "Secure" not in spoofed.headers["Set-Cookie"]
    proxied = await log_in(app.test_client(), PROXY, **https)
    assert proxied.status_code == 303
    assert "; Secure" in proxied.headers["Set-Cookie"]
    plain = await log_in(app.test_client(), PROXY, **{"X-Forwarded-Proto": "http"})
    assert "Secure" not in plain.headers["Set-Cookie"]


async def test_same_origin_checks_see_the_scheme_the_browser_used(app: Quart, rt: Runtime) -> None:
    """A browser on https://localhost posts the login form through the proxy: its Origin
    is https, which matches only when the proxy's word is believed."""
    await create_user(rt.db, "root", PASSWORD, Role.ADMIN)
    browser = {"Origin": "https://localhost", "X-Forwarded-Proto": "https"}
    assert (await log_in(app.test_client(), PROXY, **browser)).status_code == 303
    assert (await log_in(app.test_client(), STRANGER, **browser)).status_code == 403


async def test_the_events_socket_origin_check_sees_the_forwarded_scheme(app: Quart) -> None:
    headers = {"Origin": "https://localhost", "X-Forwarded-Proto": "https"}
    client = app.test_client()
    async with client.websocket(
        "/api/v1/events", headers=headers, scope_base={"client": PROXY}
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe", "video_id": "nosuchvideo"}))
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket(
            "/api/v1/events", headers=headers, scope_base={"client": STRANGER}
        ) as ws:
            await ws.send(json.dumps({"type": "subscribe"}))
    assert refused.value.response.status_code == 403


# -- a real server ---------------------------------------------------------------------------


def test_a_real_server_behind_a_trusted_proxy(tmp_path: Path) -> None:
    """Hypercorn's own scope (the peer 127.0.0.1 as the proxy), end to end."""
    config = write_config(
        tmp_path,
        "[auth]\nlogin_attempts_per_address = 2\nlogin_attempts_per_account = 100\n",
    )
    text = config.read_text().replace(
        "[server]\n", '[server]\ntrusted_proxies = ["127.0.0.1", "::1"]\n', 1
    )
    config.write_text(text)

    with running_server(config) as server:

        def post_login(name: str, password: str, **headers: str) -> tuple[int, str]:
            body = urllib.parse.urlencode({"name": name, "password": password}).encode()
            request = urllib.request.Request(
                server.url + "/login", data=body, headers=headers, method="POST"
            )
            opener = urllib.request.build_opener(NoRedirect)
            try:
                with opener.open(request, timeout=30) as response:
                    return response.status, response.headers.get("Set-Cookie", "")
            except urllib.error.HTTPError as err:
                return err.code, err.headers.get("Set-Cookie", "")

        for n in range(4):  # four clients, one failure each: none is throttled
            assert post_login(f"u{n}", "wrong", **{"X-Forwarded-For": f"203.0.113.{n}"})[0] == 401
        assert post_login("u5", "wrong", **{"X-Forwarded-For": "203.0.113.0"})[0] == 401
        assert post_login("u6", "wrong", **{"X-Forwarded-For": "203.0.113.0"})[0] == 429
        status, cookie = post_login("admin", PASSWORD, **{"X-Forwarded-Proto": "https"})
        assert status == 303
        assert "; Secure" in cookie


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
