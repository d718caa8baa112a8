"""What a plain `pip install .` carries: every theme file and the example config."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_theme_file_is_listed_in_data_files() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = [p for globs in meta["tool"]["setuptools"]["data-files"].values() for p in globs]
    files = [p.relative_to(REPO).as_posix() for p in (REPO / "themes").rglob("*") if p.is_file()]
    assert files
    missing = [
        f
        for f in files
        if not any(fnmatch(f, pat) and f.count("/") == pat.count("/") for pat in patterns)
    ]
    assert missing == [], "add these to [tool.setuptools.data-files] in pyproject.toml"
    assert "config.example.toml" in patterns


def test_builtin_plugins_are_entry_points() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    entry_points = meta["project"]["entry-points"]["streamforge"]
    packages = {p.name for p in (REPO / "plugins").iterdir() if (p / "__init__.py").is_file()}
    assert set(entry_points.values()) == packages
