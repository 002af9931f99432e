"""Tasks with triggers, and workflows, for the trigger and workflow contracts.

Apps under test list this module in ``trigger_task_modules`` (:data:`TRIGGER_CONFIG`), so its
triggers are registered on them (rebound to each app, see :meth:`pynenc.Pynenc.get_task`).
"""

from __future__ import annotations

import uuid
from typing import Any

from pynenc import Pynenc
from pynenc.invocation.status import InvocationStatus
from pynenc.testing.tasks import FlakyError, count_attempt, on_current_app
from pynenc.trigger import ResultContext, TriggerBuilder, TriggerContext

trigger_tasks_app = Pynenc(app_id="pynenc-conformance-trigger-tasks")
"""Declares the tasks; never runs them."""

TRIGGER_CONFIG: dict[str, Any] = {"trigger_task_modules": [__name__]}
"""Config values every trigger scenario adds to the backend's own."""

EVERY_MINUTE = "* * * * *"


class WatchedError(Exception):
    """Raised by :func:`source_fails`; an exception condition watches for it."""


class OtherError(Exception):
    """Raised by :func:`source_fails` when asked; no condition watches for it."""


# ---- sources -----------------------------------------------------------------------------


@trigger_tasks_app.task
def source(value: int) -> int:
    """Its statuses and results are watched."""
    return value * 10


@trigger_tasks_app.task
def source_fails(kind: str) -> None:
    raise WatchedError("watched") if kind == "watched" else OtherError("other")


@trigger_tasks_app.task
def and_source_a() -> str:
    return "a"


@trigger_tasks_app.task
def and_source_b() -> str:
    return "b"


# ---- triggered tasks ----------------------------------------------------------------------


def _tick_argument(context: TriggerContext) -> dict[str, Any]:
    cron = context.cron
    return {"tick": cron.tick if cron else None}


@trigger_tasks_app.task(triggers=TriggerBuilder().on_cron(EVERY_MINUTE).with_args(_tick_argument))
def every_minute(tick: Any) -> Any:
    return tick


@trigger_tasks_app.task(
    triggers=TriggerBuilder().on_event("conformance.order", {"kind": "paid"}).with_args_from_event()
)
def on_paid_order(order: int, kind: str) -> int:
    return order


@trigger_tasks_app.task(
    triggers=TriggerBuilder()
    .on_status(source, InvocationStatus.RUNNING, call_arguments={"value": 7})
    .with_args_from_status(lambda ctx: {"seen": f"{ctx.status}:{ctx.arguments['value']}"})
)
def on_source_running(seen: str) -> str:
    return seen


@trigger_tasks_app.task(
    triggers=TriggerBuilder()
    .on_result(source, lambda result: result >= 100)
    .with_args_from_result("result")
)
def on_big_result(result: int) -> int:
    return result


@trigger_tasks_app.task(
    triggers=TriggerBuilder()
    .on_exception(source_fails, WatchedError)
    .with_args_from_exception("msg")
)
def on_watched_error(msg: str) -> str:
    return msg


def _result_parts(context: TriggerContext) -> dict[str, Any]:
    results = (c.result for c in context.contexts.values() if isinstance(c, ResultContext))
    return {"parts": sorted(str(r) for r in results)}


@trigger_tasks_app.task(
    triggers=TriggerBuilder()
    .on_any_result(and_source_a)
    .on_any_result(and_source_b)
    .with_logic("and")
    .with_args(_result_parts)
)
def on_both_sources(parts: list[str]) -> str:
    return "".join(parts)


# ---- workflows ----------------------------------------------------------------------------


@trigger_tasks_app.task
def wf_child(key: str, index: int) -> int:
    """Counts its executions under ``key`` (per process)."""
    count_attempt(f"{key}:{index}")
    return index * index


@trigger_tasks_app.task
def wf_identity_of_child() -> dict[str, Any]:
    """A plain task reporting the workflow it runs in."""
    wf = wf_identity_of_child.wf
    return {"workflow_id": wf.workflow_id, "parent": wf.parent_workflow_id}


@trigger_tasks_app.workflow
def wf_inner() -> dict[str, Any]:
    wf = wf_inner.wf
    return {"workflow_id": wf.workflow_id, "parent": wf.parent_workflow_id}


@trigger_tasks_app.workflow
def wf_outer() -> dict[str, Any]:
    """Calls a plain task and a sub-workflow through execute_task, and one plain task directly."""
    wf = wf_outer.wf
    child = wf.execute_task(wf_identity_of_child).result
    direct = on_current_app(wf_identity_of_child)().result
    inner = wf.execute_task(wf_inner).result
    return {"self": wf.workflow_id, "child": child, "direct": direct, "inner": inner}


@trigger_tasks_app.workflow
def wf_data(value: str) -> Any:
    wf = wf_data.wf
    wf.set_data("stored", {"value": value})
    return wf.get_data("stored")


@trigger_tasks_app.workflow(
    max_retries=1, retry_for=(FlakyError,), retry_backoff_base_seconds=0.0, retry_jitter=False
)
def wf_replayed(key: str, children: int) -> dict[str, Any]:
    """Records its deterministic values, fails once after running its children, and on the
    retry returns what each attempt saw."""
    wf = wf_replayed.wf
    seen = {
        "uuid": wf.uuid(),
        "random": wf.random(),
        "now": wf.utc_now().isoformat(),
        "children": [wf.execute_task(wf_child, key, i).result for i in range(children)],
    }
    attempt = count_attempt(f"{key}:workflow")
    if attempt == 1:
        wf.set_data("first_attempt", seen)
        raise FlakyError("the first attempt of the workflow fails after its children")
    return {"first": wf.get_data("first_attempt"), "second": seen}


def unique_key() -> str:
    return uuid.uuid4().hex
