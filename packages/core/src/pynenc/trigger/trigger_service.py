"""The trigger loop: evaluates satisfied conditions and starts the triggered tasks.

It runs as the last atomic global service, so one runner at a time evaluates triggers. While it
holds the slot it makes a pass every ``trigger_loop_interval_seconds``:

1. each cron condition whose latest tick is newer than its last run claims that tick with the
   compare-and-set (ticks missed meanwhile collapse into the latest: one late firing, never a
   burst) and is recorded as satisfied;
2. the satisfied conditions recorded by the hooks, by ``emit_event`` and by step 1 are read,
   oldest first, and checked against their filters (the source call's arguments are loaded
   when a filter or an argument provider may need them);
3. an OR trigger fires once per satisfied condition; an AND trigger records the condition as
   progress and fires once every one of its conditions has progress, then starts over;
4. each firing claims its trigger run (an id derived from the trigger and the satisfied
   conditions) before registering the invocation, so a condition processed twice (by two
   runners, or after a crash) never fires twice;
5. a condition is consumed only once every firing it caused created its invocation. A run
   claimed but still without one (its runner died, or its registration failed, in between)
   keeps the condition for the next passes, and once ``trigger_run_claim_timeout_seconds``
   have passed since its claim it is claimed again (compare-and-set on the claim time) and
   fired: a firing is never lost. The invocation's id is derived from the run, so a runner that
   died after registering it and before recording it on the run left an invocation the next
   claim finds and records instead of registering a second one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynenc.call import Call
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.invocation.dist_invocation import DistributedInvocation
from pynenc.runner.atomic_services import AtomicGlobalService, AtomicServiceContext
from pynenc.trigger.conditions import (
    ConditionContext,
    CronCondition,
    CronContext,
    EventContext,
    ExceptionContext,
    ResultContext,
    StatusContext,
    TriggerCondition,
    TriggerContext,
    decode_context,
    encode_context,
)
from pynenc.trigger.cron import latest_tick

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.trigger.builder import TriggerDefinition

AND_PROGRESS_PREFIX = "and|"
"""Namespace of the satisfied-condition records that hold the progress of AND triggers."""


@dataclass
class PassReport:
    """What one pass did (for tests and logs)."""

    cron_ticks: list[str] = field(default_factory=list)
    evaluated: int = 0
    fired: list[InvocationId] = field(default_factory=list)


@dataclass(frozen=True)
class _Satisfied:
    valid_id: str
    condition_id: str
    context: ConditionContext


def source_id_of(condition_id: str, context: ConditionContext) -> str:
    """What a trigger run is linked to: the event, the source invocation, or the cron tick."""
    if isinstance(context, EventContext):
        return context.event_id
    if isinstance(context, CronContext):
        return f"{condition_id}@{context.tick.isoformat()}"
    return context.invocation_id


class TriggerLoop:
    """One app's trigger evaluation; :meth:`run_pass` is a single pass (see the module doc)."""

    def __init__(self, app: Pynenc) -> None:
        self.app = app
        self.trigger = app.trigger

    def run_pass(self, now: datetime | None = None) -> PassReport:
        report = PassReport()
        definitions = self.trigger.definitions()
        if not definitions:
            return report
        by_condition: dict[str, list[TriggerDefinition]] = {}
        conditions: dict[str, TriggerCondition] = {}
        for definition in definitions.values():
            for condition in definition.conditions:
                conditions[condition.condition_id] = condition
                by_condition.setdefault(condition.condition_id, []).append(definition)
        self._tick_crons(conditions, now or self.app.clock.now(), report)
        entries = self.trigger._get_valid_conditions(self.trigger.conf.trigger_batch_size)
        progress = self._read_progress(entries)
        consumed: list[str] = []
        touched: set[str] = set()
        for valid_id, condition_id, value in entries:
            if condition_id.startswith(AND_PROGRESS_PREFIX):
                continue
            consumed.append(valid_id)
            watched = conditions.get(condition_id)
            if watched is None:
                continue
            satisfied = self._evaluate(valid_id, watched, value, by_condition[condition_id])
            report.evaluated += 1
            if satisfied is None:
                continue
            for definition in by_condition[condition_id]:
                if definition.requires_all:
                    progress.setdefault(definition.trigger_id, {})[condition_id] = satisfied
                    touched.add(definition.trigger_id)
                elif not self._fire(definition, [satisfied], report) and consumed[-1:] == [
                    valid_id
                ]:
                    consumed.pop()  # its firing is under way elsewhere: look again later
        self._save_progress(progress, touched)
        for trigger_id in touched:
            and_trigger = definitions.get(trigger_id)
            if and_trigger is not None:
                self._fire_if_complete(and_trigger, progress.get(trigger_id, {}), report)
        if consumed:
            self.trigger._remove_valid_conditions(consumed)
        return report

    # ---- cron ---------------------------------------------------------------------------

    def _tick_crons(
        self, conditions: dict[str, TriggerCondition], now: datetime, report: PassReport
    ) -> None:
        trigger = self.trigger
        for condition_id, condition in conditions.items():
            if not isinstance(condition, CronCondition):
                continue
            tick = latest_tick(condition.expression, now)
            last = trigger._get_cron_last_run(condition_id)
            if last is not None and last >= tick:
                continue
            if not trigger._cas_cron_last_run(condition_id, last, tick) or last is None:
                continue
            context = CronContext(tick)
            trigger._add_valid_conditions(
                [
                    (
                        source_id_of(condition_id, context),
                        condition_id,
                        encode_context(context, self.app.serializer),
                    )
                ]
            )
            report.cron_ticks.append(f"{condition_id}@{tick.isoformat()}")

    # ---- evaluation ---------------------------------------------------------------------

    def _evaluate(
        self,
        valid_id: str,
        condition: TriggerCondition,
        value: str,
        definitions: Sequence[TriggerDefinition],
    ) -> _Satisfied | None:
        try:
            context = decode_context(value, self.app.serializer)
            if isinstance(context, StatusContext | ResultContext | ExceptionContext) and (
                condition.needs_arguments or any(d.providers for d in definitions)
            ):
                context = replace(context, arguments=self._arguments_of(context.invocation_id))
            if not condition.matches(context):
                return None
        except Exception:
            self.app.logger.exception(
                "trigger condition %s could not be evaluated for %s; it is dropped",
                condition.condition_id,
                valid_id,
            )
            return None
        return _Satisfied(valid_id, condition.condition_id, context)

    def _arguments_of(self, invocation_id: str) -> dict[str, Any]:
        pair = self.app.state_backend._get_invocation(InvocationId(invocation_id))
        if pair is None:
            return {}
        return dict(self.app.client_data_store.deserialize_arguments(pair[1].serialized_arguments))

    # ---- AND progress ---------------------------------------------------------------------

    def _read_progress(
        self, entries: Sequence[tuple[str, str, str]]
    ) -> dict[str, dict[str, _Satisfied]]:
        progress: dict[str, dict[str, _Satisfied]] = {}
        for _, condition_id, value in entries:
            if not condition_id.startswith(AND_PROGRESS_PREFIX):
                continue
            try:
                data = json.loads(value)
                context = decode_context(data["context"], self.app.serializer)
            except Exception:
                self.app.logger.exception("unreadable AND-trigger progress %s", condition_id)
                continue
            trigger_id = condition_id.removeprefix(AND_PROGRESS_PREFIX)
            satisfied = _Satisfied(data["valid_id"], data["condition_id"], context)
            progress.setdefault(trigger_id, {})[satisfied.condition_id] = satisfied
        return progress

    def _save_progress(self, progress: dict[str, dict[str, _Satisfied]], touched: set[str]) -> None:
        rows = [
            (
                _progress_id(trigger_id, condition_id),
                f"{AND_PROGRESS_PREFIX}{trigger_id}",
                json.dumps(
                    {
                        "valid_id": satisfied.valid_id,
                        "condition_id": condition_id,
                        "context": encode_context(satisfied.context, self.app.serializer),
                    }
                ),
            )
            for trigger_id in touched
            for condition_id, satisfied in progress[trigger_id].items()
        ]
        if rows:
            self.trigger._add_valid_conditions(rows)

    def _fire_if_complete(
        self,
        definition: TriggerDefinition,
        progress: dict[str, _Satisfied],
        report: PassReport,
    ) -> None:
        if any(cid not in progress for cid in definition.condition_ids):
            return
        if not self._fire(definition, [progress[cid] for cid in definition.condition_ids], report):
            return  # under way elsewhere: the progress stays for a later pass
        self.trigger._remove_valid_conditions(
            [_progress_id(definition.trigger_id, cid) for cid in definition.condition_ids]
        )

    # ---- firing ----------------------------------------------------------------------------

    def _fire(
        self, definition: TriggerDefinition, satisfied: Sequence[_Satisfied], report: PassReport
    ) -> bool:
        """Claim the run, then register the call and link it to what caused it. False while
        the run is claimed elsewhere and has not created its invocation yet (the caller keeps
        the condition); True once it is settled: fired here, fired before, or impossible."""
        run_id = f"{definition.trigger_id}|" + "+".join(sorted(s.valid_id for s in satisfied))
        context = TriggerContext(
            definition.trigger_id, {s.condition_id: s.context for s in satisfied}
        )
        try:
            task = self.app.get_task(TaskId.from_key(definition.task_id))
            call: Call[Any, Any] = Call(
                task, task.bind_arguments((), definition.arguments(context))
            )
        except Exception:
            self.app.logger.exception(
                "trigger %s of task %s could not build its call; it does not fire for %s",
                definition.trigger_id,
                definition.task_id,
                run_id,
            )
            return True
        trigger = self.trigger
        if not trigger.claim_trigger_run(run_id, definition.trigger_id):
            run = trigger.get_trigger_run(run_id)
            if run is None or run.invocation_ids:
                return True
            if not trigger.reclaim_trigger_run(run):
                return False
            self.app.logger.warning(
                "trigger run %s was claimed at %s and never created its invocation; firing it now",
                run_id,
                run.claimed_at.isoformat(),
            )
            invocation_id = run_invocation_id(self.app.app_id, run_id)
            if self.app.orchestrator.get_status_records([invocation_id]):
                # registered by the runner that claimed it first, which died before recording
                trigger._record_trigger_run_invocations(run_id, [invocation_id])
                return True
        trigger._add_trigger_run_sources(
            run_id, [source_id_of(s.condition_id, s.context) for s in satisfied]
        )
        [invocation] = self.app.orchestrator.register_and_route(
            [DistributedInvocation.new(call, run_invocation_id(self.app.app_id, run_id))]
        )
        trigger._record_trigger_run_invocations(run_id, [invocation.invocation_id])
        report.fired.append(invocation.invocation_id)
        self.app.logger.debug(
            "trigger %s fired: invocation %s of %s",
            definition.trigger_id,
            invocation.invocation_id[:7],
            definition.task_id,
        )
        return True


def run_invocation_id(app_id: str, run_id: str) -> InvocationId:
    """The id of the invocation a trigger run creates: derived from the run, so every attempt
    at the same run names the same invocation."""
    return InvocationId(hashlib.sha256(f"{app_id}|trigger-run|{run_id}".encode()).hexdigest()[:32])


def _progress_id(trigger_id: str, condition_id: str) -> str:
    return f"{AND_PROGRESS_PREFIX}{trigger_id}|{condition_id}"


class TriggerService(AtomicGlobalService):
    """The trigger loop as an atomic global service: it keeps making passes until the slot
    ends (or the runner stops), so triggers fire within about one loop interval while a runner
    holds the slot. With no trigger declared in ``trigger_task_modules`` it returns at once."""

    name = "triggers"

    def run(self, ctx: AtomicServiceContext) -> bool:
        app = ctx.app
        trigger = app.trigger
        trigger.purge_old_records()
        if not trigger.definitions(refresh=True):
            return True
        loop = TriggerLoop(app)
        interval = trigger.conf.trigger_loop_interval_seconds
        while not ctx.should_stop():
            try:
                loop.run_pass()
            except Exception:
                app.logger.exception("trigger loop pass failed; next pass in %.2fs", interval)
            app.clock.wait(ctx.stop_event, max(0.0, min(interval, ctx.time_left())))
        return not ctx.stop_event.is_set()
