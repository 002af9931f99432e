"""What a backend stack declares about itself: its configuration and its optional features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.app import Pynenc

STORAGE_COMPONENTS = ("orchestrator", "broker", "state_backend", "trigger", "client_data_store")
"""The components that keep state, so they decide what the stack shares across processes."""


@dataclass(frozen=True)
class ConformanceConfig:
    """How to build an app on the backend under test; the suite adds a unique ``app_id`` per app.

    The ``pynenc_conformance_config`` fixture may return this or just the ``config_values``
    mapping (``*_cls`` fields select the components: registered names or ``"module:Class"``).
    """

    config_values: Mapping[str, Any] = field(default_factory=dict)
    config_filepath: str | None = None

    @classmethod
    def of(cls, value: ConformanceConfig | Mapping[str, Any] | None) -> ConformanceConfig:
        """Accept whatever the fixture returned."""
        if isinstance(value, ConformanceConfig):
            return value
        if value is None:
            return cls()
        if isinstance(value, Mapping):
            return cls(dict(value))
        raise TypeError(
            "pynenc_conformance_config must return a mapping of config values or a "
            f"ConformanceConfig, not {type(value).__name__}"
        )


@dataclass(frozen=True)
class Capabilities:
    """Optional features of a backend stack. A test needing one the stack lacks is skipped with
    a reason naming the flag; ``None`` means "detect it from the component classes".

    ``concurrent_access``: components may be used by many threads at once (racing tests).
    ``cross_process``: several processes with the same configuration share the stored state
    (detected from each storage class's ``cross_process`` attribute, default True).
    ``notifications``: result waiters are woken by the backend rather than by polling
    (detected: the orchestrator overrides ``wait_for_final``).
    """

    concurrent_access: bool = True
    cross_process: bool | None = None
    notifications: bool | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def resolve(self, app: Pynenc) -> Capabilities:
        """A copy with every undeclared (None) flag detected from ``app``'s component classes."""
        from pynenc.orchestrator.base_orchestrator import BaseOrchestrator

        cross_process = self.cross_process
        if cross_process is None:
            cross_process = all(
                getattr(app.component_class(kind), "cross_process", True)
                for kind in STORAGE_COMPONENTS
            )
        notifications = self.notifications
        if notifications is None:
            orchestrator_cls = app.component_class("orchestrator")
            notifications = orchestrator_cls.wait_for_final is not BaseOrchestrator.wait_for_final
        return replace(self, cross_process=cross_process, notifications=notifications)

    def has(self, name: str) -> bool:
        if name not in self.names():
            raise ValueError(f"unknown capability '{name}'; known: {', '.join(self.names())}")
        return bool(getattr(self, name))
