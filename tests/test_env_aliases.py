"""Conventional environment variables (DATABASE_URL, REDIS_URL, S3_*, CDN_URL) fill the keys
the config leaves unset; a STREAMFORGE_ variable or the file always wins over them."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamforge_s3 import S3Config

from streamforge.config import ENV_ALIASES, load_settings, validate_plugin_config
from streamforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
PG = "postgresql+asyncpg://sf:secret@db.internal:5432/streamforge"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamforge.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("postgres://sf:secret@db.internal:5432/streamforge", PG),
        ("postgresql://sf:secret@db.internal:5432/streamforge", PG),
        (PG, PG),
        ("sqlite:////srv/sf/streamforge.db", "sqlite+aiosqlite:////srv/sf/streamforge.db"),
        ("sqlite+aiosqlite:///sf.db", "sqlite+aiosqlite:///sf.db"),
    ],
)
def test_database_url_in_every_usual_form(given: str, url: str) -> None:
    assert load_settings(None, environ={"DATABASE_URL": given}).database_url == url
    key = {"STREAMFORGE_DATABASE__URL": given}
    assert load_settings(None, environ=key).database_url == url


def test_the_aliases_fill_unset_keys(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": "postgres://sf@db/sf",
            "REDIS_URL": "redis://cache:6379/2",
            "S3_ENDPOINT": "https://s3.example.org",
            "S3_BUCKET": "media",
            "CDN_URL": "https://cdn.example.org/",
        },
    )
    assert settings.database_url == "postgresql+asyncpg://sf@db/sf"
    assert settings.broker.url == "redis://cache:6379/2"
    assert settings.storage.backend == "s3"  # S3_BUCKET selects the s3 plugin
    s3 = validate_plugin_config(settings, "storage", "s3", S3Config)
    assert (s3.endpoint, s3.bucket, s3.cdn_url) == (
        "https://s3.example.org",
        "media",
        "https://cdn.example.org",
    )
    assert settings.source == "environment"


def test_the_file_and_streamforge_variables_win(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[database]\nurl = "sqlite:///from-file.db"\n[broker]\nurl = ""\n'
        '[storage]\nbackend = "local"\n[storage.s3]\nbucket = "from-file"\n'
        'endpoint = "http://127.0.0.1:9000"\n',
    )
    environ = {
        "DATABASE_URL": "postgres://elsewhere/other",
        "REDIS_URL": "redis://from-alias:6379/0",
        "STREAMFORGE_BROKER__URL": "redis://from-streamforge:6379/0",
        "S3_BUCKET": "from-alias",
        "S3_ENDPOINT": "https://from-alias.example.org",
    }
    settings = load_settings(config, environ=environ)
    assert settings.database_url == "sqlite+aiosqlite:///from-file.db"
    assert settings.broker.url == "redis://from-streamforge:6379/0"
    assert settings.storage.backend == "local"  # the file chose it
    s3 = validate_plugin_config(settings, "storage", "s3", S3Config)
    assert (s3.bucket, s3.endpoint) == ("from-file", "http://127.0.0.1:9000")
    # "" in the file is unset: the alias fills it
    assert load_settings(config, environ={"REDIS_URL": "redis://r/1"}).broker.url == "redis://r/1"


def test_empty_aliases_are_unset() -> None:
    settings = load_settings(None, environ={"DATABASE_URL": "", "S3_BUCKET": ""})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.storage.backend == "local"
    assert settings.source == "defaults"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"DATABASE_URL": "mysql://sf:hunter2@db/sf"},
            "DATABASE_URL: [database] url: must be a database URL: postgresql://",
        ),
        (
            {"STREAMFORGE_DATABASE__URL": "postgresql://"},
            "STREAMFORGE_DATABASE__URL: [database] url: names no server",
        ),
        (
            {"REDIS_URL": "http://cache:6379"},
            "REDIS_URL: [broker] url: must be a redis://, rediss://, amqp:// or amqps:// URL",
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_hides_passwords(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ=environ)
    assert str(info.value).startswith(message)
    assert "hunter2" not in str(info.value)


def test_a_bad_s3_value_names_its_variable() -> None:
    settings = load_settings(
        None, environ={"S3_BUCKET": "Not_A_Bucket", "S3_ENDPOINT": "http://127.0.0.1:9000"}
    )
    with pytest.raises(ConfigError) as info:
        validate_plugin_config(settings, "storage", "s3", S3Config)
    assert str(info.value).startswith("S3_BUCKET: [storage.s3] bucket: must be an S3 bucket name")


def test_every_alias_is_documented() -> None:
    docs = (REPO / "docs" / "configuration.md").read_text()
    example = (REPO / "config.example.toml").read_text()
    for name in [*ENV_ALIASES, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]:
        assert f"`{name}`" in docs, name
        assert name in example, name
