"""Resolves ``*_cls`` config values to classes, from registered plugins or import paths."""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pluggy

from pynenc.exceptions import IncompatiblePluginError, PluginError, UnknownComponentError
from pynenc.plugins import builtin, hookspecs
from pynenc.plugins.hookspecs import CONTRACT_VERSION, ENTRY_POINT_GROUP, ComponentSpec, PluginInfo


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be imported; apps that do not use it keep working."""


BASE_CLASSES: dict[str, str] = {
    "orchestrator": "pynenc.orchestrator.base_orchestrator:BaseOrchestrator",
    "broker": "pynenc.broker.base_broker:BaseBroker",
    "state_backend": "pynenc.state_backend.base_state_backend:BaseStateBackend",
    "trigger": "pynenc.trigger.base_trigger:BaseTrigger",
    "client_data_store": "pynenc.client_data_store.base_client_data_store:BaseClientDataStore",
    "serializer": "pynenc.serializer.base_serializer:BaseSerializer",
    "runner": "pynenc.runner.base_runner:BaseRunner",
}

KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "Redis": "pynenc-redis",
    "Mongo": "pynenc-mongo",
    "DynamoDB": "pynenc-dynamodb",
}
"""Class-name prefixes of the backends we publish, to tell users what to install."""


def import_object(path: str) -> Any:
    """Import ``'package.module:Name'`` (or ``'package.module.Name'``)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"'{path}' is not an import path of the form 'package.module:Name'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class PluginRegistry:
    """The pluggy plugin manager plus an index of component specs by kind and name."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._specs: dict[str, dict[str, ComponentSpec]] = {kind: {} for kind in BASE_CLASSES}
        self._classes: dict[tuple[str, str], type[Any]] = {}
        self.plugins: dict[str, PluginInfo] = {}
        self.load_errors: dict[str, str] = {}
        """Plugins whose module failed to import: the apps that do not use them still work;
        asking for a component nobody registered reports these errors."""
        self.register_plugin(builtin, "core")
        if load_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugin = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - reported when its components are asked for
                self.load_errors[entry_point.name] = (
                    f"Cannot load pynenc plugin '{entry_point.name}' ({entry_point.value}): "
                    f"{exc}. Reinstall its distribution or uninstall it."
                )
                warnings.warn(self.load_errors[entry_point.name], PluginLoadWarning, stacklevel=2)
                continue
            self.register_plugin(plugin, entry_point.name)

    def register_plugin(self, plugin: ModuleType | object, name: str) -> PluginInfo:
        """Register a plugin after checking its contract version; unknown hooks fail."""
        if self.pm.is_registered(plugin) or name in self.plugins:
            return self.plugins[name]
        self.pm.register(plugin, name)
        try:
            self.pm.check_pending()
            info = self._call_for(plugin, "pynenc_plugin_info")
            if not isinstance(info, PluginInfo):
                raise PluginError(
                    f"Plugin '{name}' does not implement pynenc_plugin_info returning a "
                    "PluginInfo, so its contract version is unknown; it is refused."
                )
            if info.contract_version != CONTRACT_VERSION:
                raise IncompatiblePluginError(
                    info.distribution or name, info.contract_version, CONTRACT_VERSION
                )
            specs = self._call_for(plugin, "pynenc_components") or []
        except Exception:
            self.pm.unregister(plugin)
            raise
        for spec in specs:
            if spec.kind not in self._specs:
                raise PluginError(f"Plugin '{name}' registers unknown component kind '{spec.kind}'")
            self._specs[spec.kind][spec.name] = spec
        self.plugins[name] = info
        return info

    def _call_for(self, plugin: object, hook_name: str) -> Any:
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                return impl.function()
        return None

    def known_names(self, kind: str) -> list[str]:
        return sorted(self._specs[kind])

    def resolve(self, kind: str, name: str, field: str | None = None) -> type[Any]:
        """The class for ``name``: a registered name or a ``module:Class`` import path."""
        key = (kind, name)
        cached = self._classes.get(key)
        if cached is not None:
            return cached
        field = field or f"{kind}_cls"
        spec = self._specs[kind].get(name)
        if spec is None and (":" in name or "." in name):
            cls = self._import_class(kind, name, field)
        elif spec is None:
            error = UnknownComponentError(
                field, name, self.known_names(kind), _distribution_for(name)
            )
            if self.load_errors:
                failed = " ".join(self.load_errors.values())
                error.args = (f"{error} Plugins that failed to load: {failed}",)
            raise error
        else:
            cls = self._import_class(kind, spec.import_path, field)
        self._classes[key] = cls
        return cls

    def _import_class(self, kind: str, path: str, field: str) -> type[Any]:
        try:
            obj = import_object(path)
        except (ImportError, AttributeError) as exc:
            raise UnknownComponentError(
                field, path, self.known_names(kind), _distribution_for(path.rsplit(":", 1)[-1])
            ) from exc
        base = import_object(BASE_CLASSES[kind])
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise PluginError(
                f"{field} '{path}' is not a subclass of {base.__name__}; give a class that "
                f"implements the {kind} contract."
            )
        return obj


def _distribution_for(name: str) -> str | None:
    for prefix, distribution in KNOWN_DISTRIBUTIONS.items():
        if name.startswith(prefix):
            return distribution
    return None


_registry: PluginRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = PluginRegistry()
    return _registry


def reset_registry(plugins: Iterable[tuple[object, str]] = ()) -> PluginRegistry:
    """Reload the registry (tests; after installing a plugin at run time)."""
    global _registry
    with _registry_lock:
        _registry = PluginRegistry()
        for plugin, name in plugins:
            _registry.register_plugin(plugin, name)
    return _registry
