"""Resolving *_cls names through the pluggy registry."""

from __future__ import annotations

import types

import pytest

from pynenc.broker.mem_broker import MemBroker
from pynenc.exceptions import IncompatiblePluginError, PluginError, UnknownComponentError
from pynenc.plugins import ComponentSpec, PluginInfo, hookimpl
from pynenc.plugins.registry import PluginRegistry


class CustomBroker(MemBroker):
    """A broker a third party could ship."""


def make_plugin(version: str = "1", extra_hook: bool = False) -> types.SimpleNamespace:
    @hookimpl
    def pynenc_plugin_info() -> PluginInfo:
        return PluginInfo("custom", "pynenc-custom", version)

    @hookimpl
    def pynenc_components() -> list[ComponentSpec]:
        return [ComponentSpec("broker", "CustomBroker", f"{__name__}:CustomBroker")]

    plugin = types.SimpleNamespace(
        pynenc_plugin_info=pynenc_plugin_info, pynenc_components=pynenc_components
    )
    if extra_hook:

        @hookimpl
        def pynenc_not_a_hook() -> None:
            return None

        plugin.pynenc_not_a_hook = pynenc_not_a_hook
    return plugin


@pytest.fixture
def registry() -> PluginRegistry:
    return PluginRegistry(load_entry_points=False)


def test_builtins_are_registered_through_the_hook(registry: PluginRegistry) -> None:
    assert "core" in registry.plugins
    assert registry.resolve("broker", "MemBroker") is MemBroker
    assert "ThreadRunner" in registry.known_names("runner")


def test_import_path_resolves_a_custom_class(registry: PluginRegistry) -> None:
    assert registry.resolve("broker", f"{__name__}:CustomBroker") is CustomBroker


def test_unknown_name_lists_the_known_names(registry: PluginRegistry) -> None:
    with pytest.raises(UnknownComponentError) as info:
        registry.resolve("broker", "NoSuchBroker", "broker_cls")
    message = str(info.value)
    assert "broker_cls" in message and "NoSuchBroker" in message and "MemBroker" in message


def test_known_backend_name_says_which_distribution_to_install(registry: PluginRegistry) -> None:
    with pytest.raises(UnknownComponentError, match="pip install pynenc-redis"):
        registry.resolve("broker", "RedisBroker", "broker_cls")


def test_import_path_of_the_wrong_contract_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(PluginError, match="not a subclass of BaseOrchestrator"):
        registry.resolve("orchestrator", f"{__name__}:CustomBroker")


def test_plugin_components_resolve_by_name(registry: PluginRegistry) -> None:
    registry.register_plugin(make_plugin(), "custom")
    assert registry.resolve("broker", "CustomBroker") is CustomBroker


def test_plugin_for_another_contract_version_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(IncompatiblePluginError) as info:
        registry.register_plugin(make_plugin(version="99"), "custom")
    assert "99" in str(info.value) and "contract version 1" in str(info.value)
    assert "CustomBroker" not in registry.known_names("broker")


def test_plugin_with_an_unknown_hook_fails_fast(registry: PluginRegistry) -> None:
    with pytest.raises(Exception, match="pynenc_not_a_hook"):
        registry.register_plugin(make_plugin(extra_hook=True), "custom")
    assert "custom" not in registry.plugins


def test_a_plugin_that_fails_to_import_only_breaks_its_own_components(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    broken = importlib.metadata.EntryPoint(
        name="broken", value="no_such_pynenc_plugin_module", group="pynenc.plugins"
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    with pytest.warns(UserWarning, match="no_such_pynenc_plugin_module"):
        registry = PluginRegistry()
    assert registry.resolve("broker", "MemBroker") is MemBroker
    with pytest.raises(UnknownComponentError, match=r"failed to load.*no_such_pynenc_plugin"):
        registry.resolve("broker", "BrokenBroker")
