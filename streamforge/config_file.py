"""The commented example config, shipped with the package and written by ``streamforge init``."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from streamforge.errors import StreamForgeError

EXAMPLE_NAME = "config.example.toml"


def example_config_path() -> Path:
    """``config.example.toml`` of a source checkout, else the installed copy under share/."""
    source = Path(__file__).resolve().parents[1] / EXAMPLE_NAME
    if source.is_file():
        return source
    return Path(sysconfig.get_path("data")) / "share" / "streamforge" / EXAMPLE_NAME


def example_config_text() -> str:
    path = example_config_path()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StreamForgeError(f"cannot read the example config at {path}: {exc}") from exc
