"""Loading plugins and calling their hooks.

Plugins come from three places, and built-ins take the same road as third-party ones:

* the ``streamforge`` entry-point group of installed packages (the built-in local storage,
  x264 encoder and log notifier are registered this way, from ``plugins/``);
* ``[plugins] directory``: every ``*.py`` file in it is loaded as one plugin module;
* ``STREAMFORGE_PLUGINS`` (comma-separated module names), handy for tests and scripts.

``[plugins] disabled`` lists names (entry-point names or file stems) that are not loaded.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from streamforge import hookspecs
from streamforge.config import PluginConfig, Settings, validate_plugin_config
from streamforge.errors import ConfigError, PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "streamforge"
PLUGINS_ENV = "STREAMFORGE_PLUGINS"


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(settings: Settings) -> pluggy.PluginManager:
    """Build a plugin manager with every enabled plugin registered and hooks checked."""
    pm = new_manager()
    disabled = set(settings.plugins.disabled)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in disabled:
            log.info("plugin %s disabled by config", ep.name)
            continue
        try:
            module = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
        _register(pm, module, ep.name)
    if settings.plugins.directory is not None:
        for module, name in _load_directory(settings.plugins.directory, disabled):
            _register(pm, module, name)
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        if name in disabled:
            continue
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise PluginError(f"plugin module {name!r} from ${PLUGINS_ENV} failed: {exc}") from exc
        _register(pm, module, name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc
    return pm


def _register(pm: pluggy.PluginManager, module: ModuleType | object, name: str) -> None:
    if pm.is_registered(module) or pm.get_plugin(name) is not None:
        return
    try:
        pm.register(module, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc


def _load_directory(directory: Path, disabled: set[str]) -> Iterable[tuple[ModuleType, str]]:
    if not directory.is_dir():
        raise ConfigError(f"[plugins] directory: {directory} is not a folder")
    for path in sorted(directory.glob("*.py")):
        name = path.stem
        if name.startswith("_") or name in disabled:
            continue
        module_name = f"streamforge_plugin_{name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot load plugin file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise PluginError(f"plugin file {path} failed to load: {exc}") from exc
        yield module, name


async def call_hook(pm: pluggy.PluginManager, name: str, **kwargs: Any) -> list[Any]:
    """Call hook ``name`` with keyword arguments, awaiting results that are awaitable.

    One failing implementation does not stop the others: its error is logged.
    """
    hook = getattr(pm.hook, name)
    results: list[Any] = []
    for impl in reversed(hook.get_hookimpls()):
        args = {k: v for k, v in kwargs.items() if k in impl.argnames}
        try:
            result = impl.function(**args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("plugin %s failed in hook %s", impl.plugin_name, name)
            continue
        if result is not None:
            results.append(result)
    return results


def call_hook_sync(pm: pluggy.PluginManager, name: str, **kwargs: Any) -> list[Any]:
    """Call a hook whose implementations must be synchronous (registration hooks)."""
    results = getattr(pm.hook, name)(**kwargs)
    for result in results:
        if inspect.isawaitable(result):
            raise PluginError(f"hook {name} must not be async")
    return list(results)


T = TypeVar("T")


def _collect(pm: pluggy.PluginManager, hook: str, base: type[T]) -> dict[str, type[T]]:
    found: dict[str, type[T]] = {}
    for result in call_hook_sync(pm, hook):
        for cls in result or ():
            if not (inspect.isclass(cls) and issubclass(cls, base)):
                raise PluginError(f"{hook} returned {cls!r}, which is not a {base.__name__}")
            name = getattr(cls, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"{cls.__qualname__} from {hook} has no `name`")
            found[name] = cls
    return found


@dataclass
class Registry:
    """What the loaded plugins provide, by name, plus the plugin manager itself."""

    pm: pluggy.PluginManager
    settings: Settings
    storage_backends: dict[str, type[Any]] = field(default_factory=dict)
    encoders: dict[str, type[Any]] = field(default_factory=dict)
    notifiers: dict[str, type[Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, pm: pluggy.PluginManager | None = None) -> Registry:
        from streamforge.encoders import Encoder
        from streamforge.notifiers import Notifier
        from streamforge.storage import StorageBackend

        pm = pm or load_plugins(settings)
        return cls(
            pm=pm,
            settings=settings,
            storage_backends=_collect(pm, "register_storage_backends", StorageBackend),
            encoders=_collect(pm, "register_encoders", Encoder),
            notifiers=_collect(pm, "register_notifiers", Notifier),
        )

    def _config(self, family: str, name: str, cls: type[Any]) -> PluginConfig:
        model = getattr(cls, "Config", PluginConfig)
        config: PluginConfig = validate_plugin_config(self.settings, family, name, model)
        return config

    def storage(self) -> Any:
        """Instantiate the configured storage backend."""
        name = self.settings.storage.backend
        cls = self.storage_backends.get(name)
        if cls is None:
            known = ", ".join(sorted(self.storage_backends)) or "none"
            raise ConfigError(
                f"{self.settings.source}: [storage] backend: no storage plugin named {name!r} "
                f"is loaded (loaded: {known})"
            )
        return cls(self._config("storage", name, cls), settings=self.settings)

    def encoder(self, name: str) -> Any:
        cls = self.encoders.get(name)
        if cls is None:
            known = ", ".join(sorted(self.encoders)) or "none"
            raise ConfigError(
                f"{self.settings.source}: [transcode] encoder: no encoder plugin named "
                f'{name!r} is loaded (loaded: {known}, or "auto")'
            )
        return cls(self._config("encoders", name, cls))

    def notifier_instances(self) -> list[Any]:
        out = []
        for name in self.settings.notifiers.enabled:
            cls = self.notifiers.get(name)
            if cls is None:
                known = ", ".join(sorted(self.notifiers)) or "none"
                raise ConfigError(
                    f"{self.settings.source}: [notifiers] enabled: no notifier plugin named "
                    f"{name!r} is loaded (loaded: {known})"
                )
            out.append(cls(self._config("notifiers", name, cls)))
        return out

    def describe(self) -> list[tuple[str, list[str]]]:
        """(plugin name, hooks it implements) for every registered plugin."""
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            rows.append((name, hooks))
        return sorted(rows)
