"""Configuration: TOML + env overrides, validated, with one clear line per mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamforge.config import Settings, load_settings
from streamforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamforge.toml"
    path.write_text(text)
    return path


def error_of(path: Path | None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return str(info.value)


def test_defaults_need_no_file(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    assert settings.broker.url == ""
    assert settings.storage.backend == "local"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("streamforge-data/streamforge.db")
    assert [r.name for r in settings.transcode.ladder] == ["360p", "720p", "1080p"]
    assert [r.video_bitrate for r in settings.transcode.ladder] == [800_000, 2_500_000, 5_000_000]
    assert [r.audio_bitrate for r in settings.transcode.ladder] == [96_000, 128_000, 192_000]


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 8080\n")
    assert error_of(path) == (
        f"{path}: [server] prot: unknown key (check the spelling; see config.example.toml)"
    )


def test_unknown_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[sever]\nport = 8080\n")
    assert error_of(path) == (
        f"{path}: [sever]: unknown table (check the spelling; see config.example.toml)"
    )


def test_wrong_type_says_expected_and_found(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = "eighty"\n')
    assert error_of(path) == f"{path}: [server] port: expected an integer, found 'eighty' (str)"


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 70000\n")
    assert error_of(path) == (
        f"{path}: [server] port: expected less than or equal to 65535, found 70000 (int)"
    )


def test_bad_broker_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[broker]\nurl = "http://localhost"\n')
    assert error_of(path) == (
        f"{path}: [broker] url: must be a redis://, rediss://, amqp:// or amqps:// URL, "
        "found 'http://localhost' (str)"
    )


def test_bad_rung_names_its_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[transcode.ladder]]\nname = "x"\nheight = 0\nvideo_bitrate = 1\naudio_bitrate = 1\n',
    )
    assert error_of(path) == (
        f"{path}: [transcode.ladder[0]] height: expected greater than 0, found 0 (int)"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_of(path) == (
        f"{path}: config file not found (create one with `streamforge init --config {path}`)"
    )


def test_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\n")
    assert error_of(path).startswith(f"{path}: not valid TOML: ")


def test_env_override_wins_and_is_named_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 8000\n")
    settings = load_settings(path, environ={"STREAMFORGE_SERVER__PORT": "9001"})
    assert settings.server.port == 9001
    env = {"STREAMFORGE_SERVER__PORT": "nine"}
    assert error_of(path, env) == (
        "STREAMFORGE_SERVER__PORT: [server] port: expected an integer, found 'nine' (str)"
    )


def test_env_values_parse_as_toml(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        environ={
            "STREAMFORGE_PLUGINS__DISABLED": '["log", "x264"]',
            "STREAMFORGE_BROKER__URL": "redis://localhost:6379/0",
            "STREAMFORGE_NOTIFIERS__LOG__LEVEL": "warning",
        },
    )
    assert settings.plugins.disabled == ["log", "x264"]
    assert settings.broker.url == "redis://localhost:6379/0"
    assert settings.plugin_table("notifiers", "log") == {"level": "warning"}


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\ndata_dir = "stuff"\n[plugins]\ndirectory = "p"\n')
    settings = load_settings(path, environ={})
    assert settings.data_dir == tmp_path / "stuff"
    assert settings.plugins.directory == tmp_path / "p"


def test_example_config_loads_and_matches_the_defaults() -> None:
    example = load_settings(REPO / "config.example.toml", environ={})
    defaults = Settings()
    core = {"server", "storage", "encoders", "notifiers"}
    assert example.model_dump(exclude=core) == defaults.model_dump(exclude=core)
    assert example.server.port == defaults.server.port
    assert example.storage.backend == defaults.storage.backend
    assert example.notifiers.enabled == defaults.notifiers.enabled


def test_example_config_documents_every_key() -> None:
    text = (REPO / "config.example.toml").read_text()
    for section_name, section in Settings.model_fields.items():
        if section_name == "source":
            continue
        model = section.annotation
        if not getattr(model, "model_fields", None):  # only plugin tables, e.g. [encoders.x264]
            assert f"[{section_name}." in text, section_name
            continue
        assert f"[{section_name}]" in text, section_name
        for key in getattr(model, "model_fields", {}):
            if key == "ladder":
                assert "[[transcode.ladder]]" in text
                continue
            assert f"\n{key} = " in text, f"[{section_name}] {key} is not in config.example.toml"


def test_cli_bad_config_is_one_clean_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = true_ish\n")
    proc = subprocess.run(
        [sys.executable, "-m", "streamforge", "--config", str(path), "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout.strip().startswith(f"✗ config: {path}: not valid TOML")


def test_cli_missing_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "streamforge", "--config", str(path), "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"streamforge: error: {path}: config file not found "
        f"(create one with `streamforge init --config {path}`)\n"
    )


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "sf.toml"
    cmd = [sys.executable, "-m", "streamforge", "--config", str(target), "init"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    settings = load_settings(target, environ={})
    assert settings.server.port == 8080
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2
    assert "already exists (use --force to overwrite it)" in again.stderr
