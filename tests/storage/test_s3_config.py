"""``[storage.s3]`` mistakes end in one ConfigError line naming the key; secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamforge.config import load_settings
from streamforge.errors import ConfigError
from streamforge.plugins import Registry
from tests.conftest import make_settings

BASE = {
    "STREAMFORGE_STORAGE__BACKEND": "s3",
    "STREAMFORGE_STORAGE__S3__ENDPOINT": "http://127.0.0.1:9000",
    "STREAMFORGE_STORAGE__S3__BUCKET": "media",
    "STREAMFORGE_STORAGE__S3__ACCESS_KEY": "key-id",
    "STREAMFORGE_STORAGE__S3__SECRET_KEY": "hunter2-secret",
}


def config_error(tmp_path: Path, env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Registry.build(make_settings(tmp_path, **env)).storage()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"STREAMFORGE_STORAGE__S3__BUKCET": "media"},
            "environment: [storage.s3] bukcet: unknown key "
            "(check the spelling; see config.example.toml)",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__BUCKET": None},
            "environment: [storage.s3] bucket: required key is missing",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__BUCKET": "My_Bucket"},
            "environment: [storage.s3] bucket: must be an S3 bucket name: 3-63 lowercase "
            "letters, digits, . or -, found 'My_Bucket' (str)",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__ENDPOINT": "127.0.0.1:9000"},
            "environment: [storage.s3] endpoint: must be an http:// or https:// URL of the "
            "S3 API (e.g. http://127.0.0.1:9000), found '127.0.0.1:9000' (str)",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__ENDPOINT": "https://s3.amazonaws.com/media"},
            "environment: [storage.s3] endpoint: must be scheme://host[:port] only; put the "
            "bucket in `bucket`, found 'https://s3.amazonaws.com/media' (str)",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__PREFIX": "a/../b"},
            "environment: [storage.s3] prefix: must be a /-separated path of letters, "
            "digits, '.', '_' and '-', found 'a/../b' (str)",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__PRESIGN_EXPIRES": "0"},
            "environment: [storage.s3] presign_expires: expected greater than or equal to 1, "
            "found 0 (int)",
        ),
        (
            {"STREAMFORGE_STORAGE__S3__CREATE_BUCKET": "maybe"},
            "environment: [storage.s3] create_bucket: expected true or false, found 'maybe' (str)",
        ),
    ],
)
def test_bad_table_is_one_clear_line(
    tmp_path: Path, change: dict[str, str | None], expected: str
) -> None:
    env = {**BASE, **change}
    assert config_error(tmp_path, {k: v for k, v in env.items() if v is not None}) == expected


def test_secret_is_never_printed(tmp_path: Path) -> None:
    # a numeric secret is still a secret: it must not be echoed as "found 12345678 (int)"
    env = {**BASE, "STREAMFORGE_STORAGE__S3__SECRET_KEY": "12345678"}
    storage = Registry.build(make_settings(tmp_path, **env)).storage()
    shown = f"{storage.config!r} {storage.config} {storage.config.model_dump()}"
    assert "12345678" not in shown
    assert storage.config.secret_key.get_secret_value() == "12345678"
    env["STREAMFORGE_STORAGE__S3__REGION"] = "Not A Region"
    assert "12345678" not in config_error(tmp_path, env)
    assert "hunter2" not in config_error(tmp_path, {**BASE, "STREAMFORGE_STORAGE__S3__X": "1"})


def test_toml_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "streamforge.toml"
    path.write_text(
        '[storage]\nbackend = "s3"\n\n[storage.s3]\nendpoint = "http://minio:9000"\n'
        'bucket = "media"\nsecret = "oops"\n'
    )
    settings = load_settings(path, environ={})
    with pytest.raises(ConfigError) as caught:
        Registry.build(settings).storage()
    assert str(caught.value) == (
        f"{path}: [storage.s3] secret: unknown key (check the spelling; see config.example.toml)"
    )


def test_valid_table_is_normalised(tmp_path: Path) -> None:
    env = {
        **BASE,
        "STREAMFORGE_STORAGE__S3__ENDPOINT": "https://s3.amazonaws.com/",
        "STREAMFORGE_STORAGE__S3__PREFIX": "/streamforge/",
        "STREAMFORGE_STORAGE__S3__CDN_URL": "https://cdn.example.org/",
        "STREAMFORGE_STORAGE__S3__REGION": "eu-west-3",
    }
    config = Registry.build(make_settings(tmp_path, **env)).storage().config
    assert config.endpoint == "https://s3.amazonaws.com"
    assert config.prefix == "streamforge/"
    assert config.cdn_url == "https://cdn.example.org"
    assert (config.secure, config.host, config.presign_expires) == (True, "s3.amazonaws.com", 3600)
