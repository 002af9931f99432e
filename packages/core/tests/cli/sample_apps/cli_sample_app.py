"""The app most CLI tests load with ``--app``: the in-memory stack and a few tasks."""

from __future__ import annotations

from pynenc import Pynenc

app = Pynenc(
    app_id="cli-sample",
    config_values={
        "orchestrator_cls": "MemOrchestrator",
        "broker_cls": "MemBroker",
        "state_backend_cls": "MemStateBackend",
        "trigger_cls": "MemTrigger",
        "client_data_store_cls": "MemClientDataStore",
        "runner_cls": "ThreadRunner",
    },
)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(max_retries=2)
def explode(message: str) -> None:
    raise ValueError(message)


@app.task
def echo(text: str) -> str:
    return text
