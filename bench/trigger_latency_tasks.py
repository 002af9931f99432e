"""Tasks of the trigger latency bench (``trigger_latency.py``); the app reads its configuration
from the environment (``PYNENC__...``), so the bench and its runner processes share it."""

from __future__ import annotations

from typing import Any

from pynenc import Pynenc
from pynenc.trigger import TriggerBuilder, TriggerContext

app = Pynenc()

EVENT_CODE = "bench.latency"
CRON = "* * * * * */5"
"""Every 5 seconds: enough ticks to sample the latency over one atomic-service cycle."""


def _tick(context: TriggerContext) -> dict[str, Any]:
    cron = context.cron
    return {"tick": cron.tick.isoformat() if cron else ""}


@app.task(triggers=TriggerBuilder().on_event(EVENT_CODE).with_args_from_event())
def on_event(sent: float) -> float:
    return sent


@app.task(triggers=TriggerBuilder().on_cron(CRON).with_args(_tick))
def on_cron(tick: str) -> str:
    return tick
