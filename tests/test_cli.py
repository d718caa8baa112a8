"""The CLI's informational commands, through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.cli import cli, write_config


def test_plugins_lists_builtins_and_hooks(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = cli(config, "plugins", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    hooks = {p["name"]: p["hooks"] for p in data["plugins"]}
    assert hooks["local"] == ["register_storage_backends"]
    assert hooks["x264"] == ["register_encoders"]
    assert hooks["log"] == ["register_notifiers"]
    assert data["encoders"] == ["nvenc", "vaapi", "x264"]


def test_doctor_passes_on_the_embedded_default(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = cli(config, "doctor", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"✓ config: {config}" in lines
    assert "✓ broker: in-process (embedded mode)" in lines
    assert any(line.startswith("✓ encoders: working: x264") for line in lines)
    assert "✓ themes: default" in lines


def test_doctor_says_what_to_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[broker]\nurl = "redis://127.0.0.1:1/0"\n')
    result = cli(config, "doctor", timeout=120)
    assert result.returncode == 1
    assert "✗ broker: redis redis://127.0.0.1:1/0: Error 111 connecting" in result.stdout
    assert "fix: is Redis running?" in result.stdout


def test_python_dash_m_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamforge", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("streamforge, version ")


def test_redact_url_hides_passwords() -> None:
    from streamforge.config import redact_url

    assert redact_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("amqp://guest:pw@host/") == "amqp://guest:***@host/"
    assert redact_url("redis://host/0") == "redis://host/0"
