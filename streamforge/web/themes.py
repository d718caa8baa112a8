"""Themes: folders with ``theme.toml``, ``templates/`` and ``static/``.

Lookup order for a template or a static file: the site override folder, the active theme,
its parents (``extends``), then ``default``. Static URLs carry a content hash so a browser
never keeps a stale file after an upgrade.
"""

from __future__ import annotations

import hashlib
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from streamforge.config import Settings
from streamforge.errors import ConfigError

DEFAULT_THEME = "default"


def builtin_themes_dir() -> Path:
    """``themes/`` of a source checkout, else the copy installed under ``share/``."""
    source = Path(__file__).resolve().parents[2] / "themes"
    if (source / DEFAULT_THEME / "theme.toml").is_file():
        return source
    return Path(sysconfig.get_path("data")) / "share" / "streamforge" / "themes"


@dataclass(frozen=True)
class Theme:
    name: str
    version: str
    extends: str | None
    path: Path

    @property
    def templates(self) -> Path:
        return self.path / "templates"

    @property
    def static(self) -> Path:
        return self.path / "static"


def _read_theme(folder: Path) -> Theme:
    """The theme in ``folder``; a clear error for a theme.toml that is not one."""
    meta_file = folder / "theme.toml"
    try:
        meta = tomllib.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{meta_file}: cannot read theme metadata: {exc}") from None
    name = meta.get("name", folder.name)
    extends = meta.get("extends")
    version = meta.get("version", "0")
    if name != folder.name:
        # `active`, `extends` and "<theme>/page.html" all name a theme by its folder
        raise ConfigError(
            f"{meta_file}: name = {name!r} must be the folder's name, {folder.name!r}"
        )
    if extends is not None and not _valid_name(extends):
        raise ConfigError(f"{meta_file}: extends = {extends!r} is not a theme name")
    if not isinstance(version, str | int | float) or isinstance(version, bool):
        raise ConfigError(f'{meta_file}: version must be a string such as "1.0.0"')
    if name != DEFAULT_THEME and extends is None:
        extends = DEFAULT_THEME
    return Theme(name=name, version=str(version), extends=extends, path=folder)


def _valid_name(name: object) -> bool:
    """A theme name is a plain folder name: no path separators, not "." or ".."."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in "/\\\0")
    )


class ThemeSet:
    """The chain of themes in effect, and the Jinja loader and static lookup built on it."""

    def __init__(self, settings: Settings) -> None:
        search = []
        if settings.themes.directory is not None:
            search.append(settings.themes.directory)
        search.append(builtin_themes_dir())
        self.override_dir = settings.themes.override_dir
        self.chain = self._resolve(settings.themes.active, search)
        self._hashes: dict[str, str] = {}

    @staticmethod
    def _find(name: str, search: list[Path], wanted_by: str) -> Theme:
        if _valid_name(name):
            for base in search:
                folder = base / name
                if (folder / "theme.toml").is_file():
                    return _read_theme(folder)
        where = ", ".join(str(p) for p in search)
        raise ConfigError(f"{wanted_by}: no theme named {name!r} (looked in {where})")

    def _resolve(self, active: str, search: list[Path]) -> list[Theme]:
        chain = [self._find(active, search, "[themes] active")]
        while (parent := chain[-1].extends) is not None:
            if any(t.name == parent for t in chain):
                loop = " → ".join([*(t.name for t in chain), parent])
                raise ConfigError(f"themes extend each other in a loop: {loop}")
            wanted_by = f"{chain[-1].path / 'theme.toml'}: extends"
            chain.append(self._find(parent, search, wanted_by))
        if chain[-1].name != DEFAULT_THEME:
            chain.append(self._find(DEFAULT_THEME, search, "the default theme"))
        return chain

    def template_dirs(self) -> list[Path]:
        dirs = [self.override_dir / "templates"] if self.override_dir else []
        return dirs + [t.templates for t in self.chain]

    def static_dirs(self) -> list[Path]:
        dirs = [self.override_dir / "static"] if self.override_dir else []
        return dirs + [t.static for t in self.chain]

    def loader(self) -> jinja2.BaseLoader:
        # Each theme's templates are also reachable as "<theme>/<name>", so a template can
        # extend the parent theme's version of itself: {% extends "default/base.html" %}.
        prefixed = jinja2.PrefixLoader(
            {t.name: jinja2.FileSystemLoader(t.templates) for t in self.chain}
        )
        plain = jinja2.FileSystemLoader([str(d) for d in self.template_dirs() if d.is_dir()])
        return jinja2.ChoiceLoader([plain, prefixed])

    def find_static(self, rel: str) -> Path | None:
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts):
            return None
        for base in self.static_dirs():
            candidate = (base / rel).resolve()
            if candidate.is_file() and candidate.is_relative_to(base.resolve()):
                return candidate
        return None

    def static_hash(self, rel: str) -> str:
        if rel not in self._hashes:
            path = self.find_static(rel)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path else "missing"
            self._hashes[rel] = digest
        return self._hashes[rel]
