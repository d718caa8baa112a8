"""Notifier tables in a real TOML file: what they configure, and the errors for mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamforge_email import EmailConfig
from streamforge_ntfy import NtfyConfig
from streamforge_webhook import WebhookConfig

from streamforge.config import load_settings
from streamforge.errors import ConfigError
from streamforge.plugins import Registry

REPO = Path(__file__).resolve().parents[2]


def notifiers_from(tmp_path: Path, toml: str) -> list[object]:
    """Load ``toml`` as a config file (data in ``tmp_path``); build its notifiers."""
    path = tmp_path / "streamforge.toml"
    path.write_text(toml)
    settings = load_settings(path, environ={"STREAMFORGE_SERVER__DATA_DIR": str(tmp_path)})
    return [n.config for n in Registry.build(settings).notifier_instances()]


def example_notifier_tables() -> str:
    """The commented-out notifier tables of config.example.toml, uncommented."""
    example = (REPO / "config.example.toml").read_text()
    blocks = re.findall(r"^# \[notifiers\.(?:webhook|email|ntfy)\]\n(?:^# .*\n)+", example, re.M)
    assert len(blocks) == 3
    return "\n".join(
        "\n".join(line.removeprefix("# ") for line in block.splitlines()) for block in blocks
    )


def test_the_example_tables_are_valid(tmp_path: Path) -> None:
    toml = '[notifiers]\nenabled = ["webhook", "email", "ntfy"]\n\n' + example_notifier_tables()
    webhook, email, ntfy = notifiers_from(tmp_path, toml)
    assert isinstance(webhook, WebhookConfig)
    assert webhook.url == "https://example.org/streamforge-hook"
    assert webhook.secret.get_secret_value() == "a long random string"
    assert (webhook.allow_private, webhook.timeout) == (False, 10)
    assert isinstance(email, EmailConfig)
    assert (email.host, email.port, email.security) == ("smtp.example.org", 587, "starttls")
    assert email.sender == "StreamForge <video@example.org>"
    assert email.ca_file is None
    assert isinstance(ntfy, NtfyConfig)
    assert (ntfy.server, ntfy.topic, ntfy.allow_private) == ("https://ntfy.sh", "my-videos", True)


def test_a_table_applies_only_to_its_notifier(tmp_path: Path) -> None:
    webhook, ntfy = notifiers_from(
        tmp_path,
        """
[notifiers]
enabled = ["webhook", "ntfy"]
timeout = 5

[notifiers.webhook]
url = "https://hooks.example.org/a"
events = ["video.deleted"]
timeout = 3

[notifiers.ntfy]
topic = "family"
""",
    )
    assert isinstance(webhook, WebhookConfig)
    assert (webhook.events, webhook.timeout) == (["video.deleted"], 3)
    assert isinstance(ntfy, NtfyConfig)
    assert (ntfy.events, ntfy.timeout) == (None, 10)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[notifiers]\nenabled = ["webhook"]\n[notifiers.webhook]\nsecret = "s"',
            "[notifiers.webhook] url: required key is missing",
        ),
        (
            '[notifiers]\nenabled = ["webhook"]\n'
            '[notifiers.webhook]\nurl = "https://a.example/"\nsecrte = "s"',
            "[notifiers.webhook] secrte: unknown key (check the spelling",
        ),
        (
            '[notifiers]\nenabled = ["webhook"]\n'
            '[notifiers.webhook]\nurl = "https://user:pw@a.example/"',
            "[notifiers.webhook] url: must not carry credentials",
        ),
        (
            '[notifiers]\nenabled = ["webhook"]\nwebhook = "https://a.example/"',
            "[notifiers.webhook] must be a table",
        ),
        (
            '[notifiers]\nenabled = ["email"]\n[notifiers.email]\nhost = "smtp.example.org"\n'
            'from = "me@example.org"\nto = ["nobody"]',
            "[notifiers.email] to: 'nobody' is not an email address",
        ),
        (
            '[notifiers]\nenabled = ["email"]\n[notifiers.email]\nhost = "smtp.example.org"\n'
            'from = "me@example.org"\nto = ["you@example.org"]\nsecurity = "ssl"',
            "[notifiers.email] security: expected 'starttls', 'tls' or 'none', found 'ssl'",
        ),
        (
            '[notifiers]\nenabled = ["email"]\n[notifiers.email]\nhost = "smtp.example.org"\n'
            'to = ["you@example.org"]',
            "[notifiers.email] from: required key is missing",
        ),
        (
            '[notifiers]\nenabled = ["ntfy"]\n[notifiers.ntfy]\ntopic = "a/b"',
            "[notifiers.ntfy] topic: a topic is 1 to 64 letters, digits, '_' or '-'",
        ),
        (
            '[notifiers]\nenabled = ["ntfy"]\n[notifiers.ntfy]\ntopic = "t"\npriority = 9',
            "[notifiers.ntfy] priority: expected less than or equal to 5, found 9",
        ),
        (
            '[notifiers]\nenabled = ["ntfy"]\n[notifiers.ntfy]\ntopic = "t"\n'
            'server = "ntfy.example.org"',
            "[notifiers.ntfy] server: must be an http:// or https:// URL",
        ),
        (
            "[notifiers]\nmax_attempts = 0",
            "[notifiers] max_attempts: expected greater than or equal to 1, found 0",
        ),
        (
            '[notifiers]\nenabled = ["slack"]',
            "[notifiers] enabled: no notifier plugin named 'slack' is loaded (loaded: email, log",
        ),
    ],
)
def test_mistakes_name_the_file_table_and_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        notifiers_from(tmp_path, toml)
    assert str(caught.value).startswith(f"{tmp_path / 'streamforge.toml'}: ")
    assert message in str(caught.value)


def test_the_getting_started_snippet_is_valid(tmp_path: Path) -> None:
    guide = (REPO / "docs" / "getting-started.md").read_text()
    [snippet] = [b for b in re.findall(r"```toml\n(.*?)```", guide, re.S) if "[notifiers" in b]
    _, ntfy = notifiers_from(tmp_path, snippet)
    assert isinstance(ntfy, NtfyConfig)
    assert (ntfy.server, ntfy.topic) == ("https://ntfy.sh", "streamforge-8f3k2q")
