"""Tasks with triggers, and a workflow, for the end-to-end trigger and workflow tests. Like
``e2e_tasks``, the app takes its configuration from the environment."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from pynenc import Pynenc
from pynenc.trigger import TriggerBuilder, TriggerContext

app = Pynenc()

EVERY_TWO_SECONDS = "* * * * * */2"
GATE_TIMEOUT_SECONDS = 120.0


def _tick(context: TriggerContext) -> dict[str, Any]:
    cron = context.cron
    return {"tick": cron.tick.isoformat() if cron else ""}


@app.task(triggers=TriggerBuilder().on_cron(EVERY_TWO_SECONDS).with_args(_tick))
def on_tick(tick: str) -> str:
    return tick


@app.task(triggers=TriggerBuilder().on_event("e2e.signup").with_args_from_event())
def send_welcome(user: str) -> str:
    return f"welcome {user}"


@app.task(triggers=TriggerBuilder().on_event("e2e.signup").with_args_from_event("payload"))
def count_signup(payload: dict[str, Any]) -> str:
    return str(payload["user"])


@app.task
def square(x: int) -> int:
    return x * x


@app.workflow
def five_squares(gate: str) -> list[int]:
    """Runs 3 children, waits until ``gate`` exists (the test kills this runner meanwhile),
    then runs 2 more: a re-run must replay the first 3 from their recorded results."""
    wf = five_squares.wf
    results = [wf.execute_task(square, i).result for i in range(3)]
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.05)  # polls the gate file, with a deadline
    results += [wf.execute_task(square, i).result for i in range(3, 5)]
    return results


def parse_tick(tick: str) -> datetime:
    return datetime.fromisoformat(tick)
