"""The plugin registry: backends register their component classes through pluggy hooks."""

from pynenc.plugins.hookspecs import CONTRACT_VERSION, ComponentSpec, PluginInfo, hookimpl, hookspec

__all__ = ["CONTRACT_VERSION", "ComponentSpec", "PluginInfo", "hookimpl", "hookspec"]
