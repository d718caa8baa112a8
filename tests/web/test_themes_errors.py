"""Theme folders that are wrong stop startup with one clear ConfigError naming the file and
the problem: unreadable theme.toml, a name that is not the folder's, an `extends` that is
no theme, themes that extend each other in a loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamforge.app import create_app
from streamforge.errors import ConfigError
from streamforge.web.themes import ThemeSet
from tests.conftest import make_settings


def make_theme(themes: Path, folder: str, toml: str) -> Path:
    (themes / folder / "templates").mkdir(parents=True)
    meta = themes / folder / "theme.toml"
    meta.write_text(toml, encoding="utf-8")
    return meta


def load(tmp_path: Path, active: str) -> ThemeSet:
    return ThemeSet(
        make_settings(
            tmp_path,
            STREAMFORGE_THEMES__ACTIVE=active,
            STREAMFORGE_THEMES__DIRECTORY=str(tmp_path / "themes"),
        )
    )


def test_a_theme_from_the_extra_folder_extends_a_builtin_one(tmp_path: Path) -> None:
    make_theme(tmp_path / "themes", "mine", 'name = "mine"\nextends = "cinema"\nversion = 2\n')
    themes = load(tmp_path, "mine")
    assert [(t.name, t.version) for t in themes.chain] == [
        ("mine", "2"),
        ("cinema", "0.1.0"),
        ("default", "0.1.0"),
    ]


def test_no_extends_means_the_default_theme(tmp_path: Path) -> None:
    make_theme(tmp_path / "themes", "plain", 'version = "1.0"\n')  # name: the folder's
    assert [t.name for t in load(tmp_path, "plain").chain] == ["plain", "default"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('name = "broken\n', "cannot read theme metadata"),
        ("\xff", "cannot read theme metadata"),
        ('name = "other"\n', "name = 'other' must be the folder's name, 'bad'"),
        ("extends = 3\n", "extends = 3 is not a theme name"),
        ('extends = "../default"\n', "extends = '../default' is not a theme name"),
        ("version = [1]\n", "version must be a string"),
    ],
)
def test_a_bad_theme_toml_is_a_clear_config_error(tmp_path: Path, toml: str, expected: str) -> None:
    meta = tmp_path / "themes/bad/theme.toml"
    meta.parent.mkdir(parents=True)
    meta.write_bytes(toml.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "bad")
    assert str(caught.value).startswith(f"{meta}: ")
    assert expected in str(caught.value)


def test_an_unknown_parent_names_the_theme_that_wants_it(tmp_path: Path) -> None:
    meta = make_theme(tmp_path / "themes", "child", 'extends = "nowhere"\n')
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "child")
    message = str(caught.value)
    assert message.startswith(f"{meta}: extends: no theme named 'nowhere' (looked in ")
    assert str(tmp_path / "themes") in message


def test_an_unknown_active_theme(tmp_path: Path) -> None:
    (tmp_path / "themes").mkdir()
    with pytest.raises(ConfigError, match=r"^\[themes\] active: no theme named 'nope'"):
        load(tmp_path, "nope")
    with pytest.raises(ConfigError, match=r"^\[themes\] active: no theme named '\.\./cinema'"):
        load(tmp_path, "../cinema")  # a name, never a path out of the themes folder


def test_themes_extending_each_other_in_a_loop(tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    make_theme(themes, "a", 'extends = "b"\n')
    make_theme(themes, "b", 'extends = "c"\n')
    make_theme(themes, "c", 'extends = "a"\n')
    make_theme(themes, "selfish", 'extends = "selfish"\n')
    with pytest.raises(ConfigError, match=r"^themes extend each other in a loop: b → c → a → b$"):
        load(tmp_path, "b")
    with pytest.raises(ConfigError, match=r"loop: selfish → selfish$"):
        load(tmp_path, "selfish")


def test_the_app_refuses_to_start_with_a_broken_theme(tmp_path: Path) -> None:
    make_theme(tmp_path / "themes", "a", 'extends = "a"\n')
    settings = make_settings(
        tmp_path,
        STREAMFORGE_THEMES__ACTIVE="a",
        STREAMFORGE_THEMES__DIRECTORY=str(tmp_path / "themes"),
    )
    with pytest.raises(ConfigError, match="loop: a → a"):
        create_app(settings, run_jobs=False)
