"""Tasks for the trigger unit tests (a module of its own, so it can be a trigger task module)."""

from __future__ import annotations

from pynenc import Pynenc
from pynenc.trigger import TriggerBuilder

declarations_app = Pynenc(app_id="trigger-unit-declarations")


@declarations_app.task
def watched(x: int) -> int:
    return x


@declarations_app.task(triggers=TriggerBuilder().on_status(watched, "SUCCESS"))
def after_watched() -> None:
    """Triggered by watched's SUCCESS."""


@declarations_app.task(triggers=TriggerBuilder().on_event("unit.event"))
def on_unit_event() -> None:
    """Triggered by an event."""
