"""Triggers start tasks on conditions: cron, events, other tasks' statuses, results, errors.

Declare them with :class:`TriggerBuilder` in ``@app.task(triggers=...)``; emit events with
``app.trigger.emit_event(code, payload)``.
"""

from pynenc.trigger.builder import TriggerBuilder, TriggerDefinition
from pynenc.trigger.conditions import (
    ANY_RESULT,
    CompositeLogic,
    CronContext,
    EventContext,
    ExceptionContext,
    ResultContext,
    StatusContext,
    TriggerContext,
)

__all__ = [
    "ANY_RESULT",
    "CompositeLogic",
    "CronContext",
    "EventContext",
    "ExceptionContext",
    "ResultContext",
    "StatusContext",
    "TriggerBuilder",
    "TriggerContext",
    "TriggerDefinition",
]
