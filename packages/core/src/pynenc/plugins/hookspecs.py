"""Every hook a pynenc plugin may implement, declared in one place.

A plugin is a module (found through the ``pynenc.plugins`` entry-point group) that implements
these hooks with :data:`hookimpl`. The core registers its own built-in components through the
same hooks (:mod:`pynenc.plugins.builtin`).

Example, in a backend distribution's ``pyproject.toml``::

    [project.entry-points."pynenc.plugins"]
    redis = "pynenc.backends.redis.plugin"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pluggy

PROJECT_NAME = "pynenc"
ENTRY_POINT_GROUP = "pynenc.plugins"
CONTRACT_VERSION = "1"
"""The version of the component contracts this core implements. A plugin built for another
contract version is refused at load."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

ComponentKind = Literal[
    "orchestrator",
    "broker",
    "state_backend",
    "trigger",
    "client_data_store",
    "serializer",
    "runner",
]


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """Who a plugin is and which contract version it implements."""

    name: str
    distribution: str
    contract_version: str


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """A component class a plugin provides, by name and import path (imported only when a
    config selects it, so a plugin's heavy client libraries load lazily)."""

    kind: ComponentKind
    name: str
    import_path: str


@hookspec
def pynenc_plugin_info() -> PluginInfo:  # type: ignore[empty-body]
    """Describe the plugin; its contract version is checked against :data:`CONTRACT_VERSION`."""


@hookspec
def pynenc_components() -> list[ComponentSpec]:  # type: ignore[empty-body]
    """The component classes the plugin provides."""
