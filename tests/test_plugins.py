"""Plugin loading: entry points, a plugins folder, disabling, hook checks, async hooks."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from streamforge import hookspecs
from streamforge.config import Settings
from streamforge.errors import ConfigError, PluginError
from streamforge.plugins import Registry, call_hook, load_plugins
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "streamforge_spec")
)


def test_builtins_register_through_entry_points(settings: Settings) -> None:
    registry = Registry.build(settings)
    assert set(registry.storage_backends) >= {"local"}
    assert set(registry.encoders) >= {"x264"}
    assert set(registry.notifiers) >= {"log"}
    names = [name for name, _ in registry.describe()]
    assert {"local", "x264", "log"} <= set(names)


def test_core_never_imports_a_plugin() -> None:
    plugin_modules = {p.name for p in (REPO / "plugins").iterdir() if p.is_dir()}
    for path in (REPO / "streamforge").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in plugin_modules, f"{path} imports {name}"


def test_disabled_plugin_is_not_loaded(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DISABLED='["log"]')
    registry = Registry.build(settings)
    assert "log" not in registry.notifiers
    with pytest.raises(ConfigError, match=r"\[notifiers\] enabled: no notifier plugin named 'log'"):
        registry.notifier_instances()


def test_plugins_folder_single_file(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "hello.py").write_text(
        "from streamforge.hookspecs import hookimpl\n"
        "@hookimpl\n"
        "def extra_template_vars(template):\n"
        "    return {'hello': template}\n"
    )
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DIRECTORY=str(folder))
    pm = load_plugins(settings)
    assert pm.get_plugin("hello") is not None
    results = pm.hook.extra_template_vars(template="library.html", request_path="/")
    assert {"hello": "library.html"} in results


def test_misspelled_hook_fails_loudly(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "typo.py").write_text(
        "from streamforge.hookspecs import hookimpl\n"
        "@hookimpl\n"
        "def video_readyy(video):\n"
        "    pass\n"
    )
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DIRECTORY=str(folder))
    with pytest.raises(PluginError, match="unknown hook"):
        load_plugins(settings)


def test_broken_plugin_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "broken.py").write_text("raise RuntimeError('boom')\n")
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DIRECTORY=str(folder))
    with pytest.raises(PluginError, match=r"broken.py failed to load: boom"):
        load_plugins(settings)


def test_missing_plugins_folder_is_a_config_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DIRECTORY=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="is not a folder"):
        load_plugins(settings)


async def test_call_hook_awaits_async_results_and_isolates_failures(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "a_async.py").write_text(
        "from streamforge.hookspecs import hookimpl\n"
        "@hookimpl\n"
        "async def extra_template_vars(template):\n"
        "    return {'from_async': True}\n"
    )
    (folder / "b_broken.py").write_text(
        "from streamforge.hookspecs import hookimpl\n"
        "@hookimpl\n"
        "def extra_template_vars():\n"
        "    raise ValueError('plugin bug')\n"
    )
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DIRECTORY=str(folder))
    pm = load_plugins(settings)
    results = await call_hook(pm, "extra_template_vars", template="x.html", request_path="/")
    assert results == [{"from_async": True}]


def test_storage_config_is_validated_against_the_plugin_model(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_STORAGE__LOCAL__ROTO="/x")
    with pytest.raises(ConfigError, match=r"\[storage.local\] roto: unknown key"):
        Registry.build(settings).storage()


def test_unknown_backend_lists_loaded_ones(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, STREAMFORGE_STORAGE__BACKEND="ftp")
    with pytest.raises(
        ConfigError, match=r"no storage plugin named 'ftp' is loaded \(loaded: local"
    ):
        Registry.build(settings).storage()


def test_every_hook_is_documented_with_its_signature() -> None:
    docs = (REPO / "docs" / "plugins.md").read_text()
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        params = ", ".join(inspect.signature(fn).parameters)
        assert f"### `{name}({params})`" in docs, f"hook {name} is not documented"


def test_every_hook_is_exercised_by_the_test_plugin() -> None:
    source = (REPO / "tests" / "plugins" / "everything.py").read_text()
    for name in HOOKS:
        assert f"def {name}(" in source, f"hook {name} has no implementation in the test plugin"


def test_every_python_example_in_the_plugin_docs_loads_as_a_plugin(tmp_path: Path) -> None:
    docs = (REPO / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    assert len(blocks) >= len(HOOKS)
    folder = tmp_path / "plugins"
    folder.mkdir()
    for i, block in enumerate(blocks):
        (folder / f"example_{i}.py").write_text(block)
    settings = make_settings(tmp_path, STREAMFORGE_PLUGINS__DIRECTORY=str(folder))
    registry = Registry.build(settings)
    implemented = {hook for _, hooks in registry.describe() for hook in hooks}
    assert set(HOOKS) <= implemented
    assert {"memory"} <= set(registry.storage_backends)
    assert {"x264-film"} <= set(registry.encoders)
    assert {"discord"} <= set(registry.notifiers)
