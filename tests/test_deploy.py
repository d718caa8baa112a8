"""The deployment examples in docs/deploy: the compose file parses, its StreamForge services
set only variables StreamForge (or its image) honours, and those variables make a valid
scale-out configuration; the systemd unit runs real commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamforge.cli import cli
from streamforge.config import ENV_ALIASES, Settings, load_settings, validate_plugin_config
from streamforge.container import WAIT_ENV

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docs" / "deploy" / "compose.yaml"
UNIT = REPO / "docs" / "deploy" / "streamforge.service"
#: What the compose file asks of .env, with values a person might give.
DOTENV = {
    "POSTGRES_PASSWORD": "db-password",
    "MINIO_ROOT_PASSWORD": "minio-password",
    "STREAMFORGE_SECRET_KEY": "k" * 40,
    "S3_ENDPOINT": "http://192.168.1.10:9000",
    "PUBLIC_URL": "https://video.example.org",
}
#: Read by the s3 plugin itself, the NVIDIA runtime, and the entrypoint.
OTHER_READERS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "NVIDIA_DRIVER_CAPABILITIES"}


def interpolate(value: str) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``, from DOTENV."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in DOTENV:
            return DOTENV[name]
        assert op != ":?", f"{name} is required: {rest}"
        return rest

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def streamforge_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image", "").endswith("/streamforge:latest")
    }


def test_the_compose_file_has_the_whole_site() -> None:
    data = compose()
    services = data["services"]
    assert {"web", "worker", "postgres", "redis", "minio", "bucket", "caddy"} <= set(services)
    assert services["caddy"]["profiles"] == ["tls"]
    assert services["web"]["build"]["dockerfile"] == "Containerfile"
    assert (COMPOSE.parent / services["web"]["build"]["context"] / "Containerfile").is_file()
    for name in ("web", "worker", "postgres", "redis", "minio"):
        assert "test" in services[name]["healthcheck"], name
    named = set(data["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in named, f"volume {source} is not declared"


@pytest.mark.parametrize("name", sorted(streamforge_services()))
def test_service_variables_are_ones_streamforge_honours(name: str) -> None:
    environment = {
        k: interpolate(str(v)) for k, v in streamforge_services()[name]["environment"].items()
    }
    for variable in environment:
        if variable in ENV_ALIASES or variable in OTHER_READERS or variable == WAIT_ENV:
            continue
        assert variable.startswith("STREAMFORGE_"), variable
        assert "__" in variable, variable
        section, _, key = variable.removeprefix("STREAMFORGE_").lower().partition("__")
        assert section in Settings.model_fields, variable
        assert key in type(getattr(Settings(), section)).model_fields, variable
    settings = load_settings(None, environ=environment)  # valid, as a whole
    assert settings.database.url.startswith("postgresql+asyncpg://streamforge:db-password@")
    assert settings.broker.url == "redis://redis:6379/0"
    assert settings.storage.backend == "s3"
    from streamforge_s3.config import S3Config

    s3 = validate_plugin_config(settings, "storage", "s3", S3Config)
    assert (s3.bucket, s3.endpoint) == ("streamforge", DOTENV["S3_ENDPOINT"])
    assert settings.auth.secret_key.get_secret_value() == DOTENV["STREAMFORGE_SECRET_KEY"]
    assert settings.logging.format == "json"
    command = streamforge_services()[name]["command"]
    assert command[0] in cli.commands


def test_workers_export_metrics_where_their_healthcheck_looks() -> None:
    worker = streamforge_services()["worker"]
    port = worker["environment"]["STREAMFORGE_METRICS__WORKER_PORT"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])


def test_the_systemd_unit_runs_real_commands() -> None:
    lines = [line.strip() for line in UNIT.read_text().splitlines()]
    sections = [line for line in lines if line.startswith("[")]
    assert sections == ["[Unit]", "[Service]", "[Install]"]
    commands = [line.split("=", 1)[1] for line in lines if line.startswith("ExecStart")]
    assert commands
    for command in commands:
        program, subcommand = command.split()[:2]
        assert program == "/opt/streamforge/bin/streamforge"
        assert subcommand in cli.commands
    assert "User=streamforge" in lines
    environment = dict(line.split("=", 2)[1:] for line in lines if line.startswith("Environment="))
    for variable in environment:
        assert variable == "STREAMFORGE_CONFIG" or variable.startswith("STREAMFORGE_SERVER__")
