"""Redis state backend: calls, history, results and workflow records of an app.

Keys (under the app's prefix): ``s:inv:<id>`` the stored call (JSON), ``s:idp:<abc>`` the
stored ids starting with ``abc`` (for lookups by prefix), ``s:kids:<parent>`` children in
registration order, ``s:hist:<id>`` the history entries (a list), ``s:hw:<window>`` the ids
with entries in a 10-second window (:data:`~pynenc.backends.redis.codec.HISTORY_WINDOW_US`, for
time-range reads; an invocation is added to a window once, not once per entry),
``s:res:<id>`` / ``s:exc:<id>`` the result or exception, ``s:wfd:<workflow>`` workflow data,
``s:wf`` / ``s:wfo`` / ``s:wft:<type>`` workflow runs, ``s:wfs:<workflow>`` sub-invocations,
``s:rctx`` runner contexts. App infos live in ``pynenc:apps``, shared by every app on the
server so tools can discover them.

Small results and exceptions also travel with the final notification (see
:mod:`pynenc.backends.redis.listener`): a process that was notified reads them without a round
trip.

With ``state_retention_hours`` set, the final step gives an invocation's keys that time to
live, the ids of expired invocations leave the prefix lookup a few at a time in later final
steps, and each window of the time index expires that long after the window ends, so memory
stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pynenc.backends.redis.codec import (
    HISTORY_WINDOW_US,
    decode_history,
    decode_invocation,
    decode_workflow,
    encode_history,
    encode_invocation,
    encode_workflow,
    to_micros,
)
from pynenc.backends.redis.conf import ConfigStateBackendRedis
from pynenc.backends.redis.connection import pack
from pynenc.backends.redis.listener import finals_for
from pynenc.backends.redis.store import RedisStore
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.identifiers.task_id import TaskId
from pynenc.state_backend.base_state_backend import BaseStateBackend, InvocationHistory
from pynenc.util.cache import LRUCache
from pynenc.workflow.identity import WorkflowIdentity

if TYPE_CHECKING:
    from pynenc.app import AppInfo, Pynenc
    from pynenc.invocation.dist_invocation import InvocationDTO
    from pynenc.models.call_dto import CallDTO
    from pynenc.runner.runner_context import RunnerContext

APPS_KEY = "pynenc:apps"
"""The one key outside any app's prefix: app infos by app id, for discovery."""

_PREFETCHED = 1024
"""Calls a claim returned that the runner has not loaded yet (normally loaded at once)."""


_WINDOW_READ = 200
"""Invocations of a time index window read per script call."""

_WINDOWS_PER_LOOK = 4096
"""Time index windows looked up per script call (about 11 hours of 10-second windows)."""


def _glob(text: str) -> str:
    """``text`` matched literally in a Redis glob pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


class RedisStateBackend(BaseStateBackend):
    """The durable record of invocations on a Redis server, shared by every process configured
    with the same server and app id."""

    config_cls: ClassVar[type[ConfigStateBackendRedis]] = ConfigStateBackendRedis
    conf: ConfigStateBackendRedis
    cross_process: ClassVar[bool] = True

    def __init__(self, app: Pynenc) -> None:
        super().__init__(app)
        self.store = RedisStore(app, self.conf)
        self._prefetched: LRUCache[InvocationId, str] = LRUCache(_PREFETCHED)
        self._finals = finals_for(self.store.connection, self.store.prefix)

    def _key(self, *parts: str) -> str:
        return self.store.key("s", *parts)

    # ------------------------------------------------------------------ invocations

    def prefetch(self, invocation_id: InvocationId, encoded: str) -> None:
        """Keep a stored call read in the same step as its claim, for the load that follows."""
        self._prefetched.set(invocation_id, encoded)

    def _upsert_invocations(self, entries: Sequence[tuple[InvocationDTO, CallDTO]]) -> None:
        args: list[str] = [self.store.prefix]
        for invocation, call in entries:
            encoded = encode_invocation(invocation, call)
            self.store.check_size(encoded, f"arguments of invocation {invocation.invocation_id}")
            args += [invocation.invocation_id, encoded, invocation.parent_invocation_id or ""]
            self._prefetched.pop(invocation.invocation_id)
        self.store.script("upsert", args)

    def _get_invocation(self, invocation_id: InvocationId) -> tuple[InvocationDTO, CallDTO] | None:
        return self._get_invocations([invocation_id]).get(invocation_id)

    def _get_invocations(
        self, invocation_ids: Sequence[InvocationId]
    ) -> dict[InvocationId, tuple[InvocationDTO, CallDTO]]:
        found: dict[InvocationId, tuple[InvocationDTO, CallDTO]] = {}
        missing: list[InvocationId] = []
        for invocation_id in invocation_ids:
            encoded = self._prefetched.pop(invocation_id)
            if encoded is None:
                missing.append(invocation_id)
            else:
                found[invocation_id] = decode_invocation(invocation_id, encoded)
        if missing:
            values = self.store.mget([self._key("inv", i) for i in missing])
            for invocation_id, encoded in zip(missing, values, strict=True):
                if encoded is not None:
                    found[invocation_id] = decode_invocation(invocation_id, encoded)
        return found

    def _get_child_invocations(self, parent_invocation_id: InvocationId) -> list[InvocationId]:
        ids = self.store.zrange(self._key("kids", parent_invocation_id))
        return [InvocationId(i) for i in ids]

    def _find_invocation_ids_by_prefix(self, prefix: str, limit: int) -> list[InvocationId]:
        key, pattern = self._key("idp", prefix[:3]), f"{_glob(prefix)}*"
        found = self.store.run(lambda c: {str(i) for i in c.sscan_iter(key, match=pattern)})
        return [InvocationId(i) for i in sorted(found)[:limit]]

    # ------------------------------------------------------------------ history

    def _add_histories(self, histories: Sequence[InvocationHistory]) -> None:
        args = [self.store.prefix, repr(self.conf.state_retention_hours * 3600)]
        for history in histories:
            args.append(
                pack(history.invocation_id, to_micros(history.timestamp), encode_history(history))
            )
        self.store.script("histories", args)

    def _get_history(self, invocation_id: InvocationId) -> list[InvocationHistory]:
        entries = self.store.lrange(self._key("hist", invocation_id))
        history = [decode_history(invocation_id, entry) for entry in entries]
        return sorted(history, key=lambda h: h.timestamp)

    def _iter_history_in_timerange(
        self, start_time: datetime, end_time: datetime, batch_size: int
    ) -> Iterator[list[InvocationHistory]]:
        """Window by window of the time index, oldest first: the windows that hold entries
        are found a few thousand at a time, and a window's invocations are read a few hundred
        per script call, so no call runs long and nothing stays open between calls. Entries
        are ordered by time, then invocation id, then position in its history."""
        start, end = to_micros(start_time), to_micros(end_time)
        if end <= start:
            return
        batch: list[InvocationHistory] = []
        for window in self._history_windows(
            start // HISTORY_WINDOW_US, (end - 1) // HISTORY_WINDOW_US
        ):
            low = max(start, window * HISTORY_WINDOW_US)
            high = min(end, (window + 1) * HISTORY_WINDOW_US)
            found: list[tuple[int, str, int, str]] = []
            cursor = "0"
            while True:
                raw = self.store.script(
                    "history_range",
                    [self.store.prefix, "e", str(window), cursor, low, high, _WINDOW_READ],
                )
                cursor = str(raw[0])
                for i in range(1, len(raw), 4):
                    found.append((int(raw[i + 2]), raw[i], int(raw[i + 1]), raw[i + 3]))
                if cursor == "0":
                    break
            found.sort(key=lambda e: (e[0], e[1], e[2]))
            for _, invocation_id, _, entry in found:
                batch.append(decode_history(invocation_id, entry))
                if len(batch) == batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _history_windows(self, first: int, last: int) -> Iterator[int]:
        """The windows from ``first`` to ``last`` that hold entries, in order."""
        following: int | None = first
        while following is not None:
            raw = self.store.script(
                "history_range", [self.store.prefix, "w", following, last, _WINDOWS_PER_LOOK]
            )
            following = int(raw[0]) if raw[0] else None
            yield from (int(w) for w in raw[1:])

    # ------------------------------------------------------------------ results

    def _set_result(self, invocation_id: InvocationId, serialized_result: str) -> None:
        self.store.check_size(serialized_result, f"result of invocation {invocation_id}")
        self.store.set(self._key("res", invocation_id), serialized_result)

    def _get_result(self, invocation_id: InvocationId) -> str | None:
        notified = self._finals.take_value(invocation_id, "r")
        if notified is not None:
            return notified
        return self.store.get(self._key("res", invocation_id))

    def _set_exception(self, invocation_id: InvocationId, serialized_exception: str) -> None:
        self.store.check_size(serialized_exception, f"exception of invocation {invocation_id}")
        self.store.set(self._key("exc", invocation_id), serialized_exception)

    def _get_exception(self, invocation_id: InvocationId) -> str | None:
        notified = self._finals.take_value(invocation_id, "e")
        if notified is not None:
            return notified
        return self.store.get(self._key("exc", invocation_id))

    # ------------------------------------------------------------------ workflows

    def _set_workflow_data(self, workflow_id: InvocationId, key: str, serialized: str) -> None:
        self.store.check_size(serialized, f"workflow data '{key}'")
        self.store.hset(self._key("wfd", workflow_id), key, serialized)

    def _get_workflow_data(self, workflow_id: InvocationId, key: str) -> str | None:
        return self.store.hget(self._key("wfd", workflow_id), key)

    def _store_workflow_run(self, workflow_identity: WorkflowIdentity) -> None:
        self.store.script(
            "workflow_run",
            [
                self.store.prefix,
                workflow_identity.workflow_id,
                encode_workflow(workflow_identity),
                workflow_identity.workflow_type.key,
            ],
        )

    def _get_workflow_runs(self, workflow_type: TaskId | None) -> list[WorkflowIdentity]:
        order = self._key("wfo") if workflow_type is None else self._key("wft", workflow_type.key)
        ids = self.store.zrange(order)
        if not ids:
            return []
        stored = self.store.hmget(self._key("wf"), ids)
        return [
            decode_workflow(workflow_id, value)
            for workflow_id, value in zip(ids, stored, strict=True)
            if value is not None
        ]

    def _store_workflow_sub_invocation(
        self, parent_workflow_id: InvocationId, sub_invocation_id: InvocationId
    ) -> None:
        self.store.script(
            "ordered_add",
            [self.store.prefix, f"s:wfs:{parent_workflow_id}", sub_invocation_id],
        )

    def _get_workflow_sub_invocations(self, workflow_id: InvocationId) -> list[InvocationId]:
        ids = self.store.zrange(self._key("wfs", workflow_id))
        return [InvocationId(i) for i in ids]

    # ------------------------------------------------------------------ app info

    def _store_app_info(self, app_info: AppInfo) -> None:
        self.store.hset(APPS_KEY, app_info.app_id, app_info.to_json())

    def _get_app_info(self) -> AppInfo | None:
        from pynenc.app import AppInfo

        value = self.store.hget(APPS_KEY, self.app.app_id)
        return None if value is None else AppInfo.from_json(value)

    def _discover_app_infos(self) -> dict[str, AppInfo]:
        from pynenc.app import AppInfo

        stored = self.store.hgetall(APPS_KEY)
        return {app_id: AppInfo.from_json(info) for app_id, info in stored.items()}

    # ------------------------------------------------------------------ runner contexts

    def _store_runner_context(self, runner_context: RunnerContext) -> None:
        self.store.hset(self._key("rctx"), runner_context.runner_id, runner_context.to_json())

    def _get_runner_context(self, runner_id: str) -> RunnerContext | None:
        found = self._get_runner_contexts([runner_id])
        return found[0] if found else None

    def _get_runner_contexts(self, runner_ids: Sequence[str]) -> list[RunnerContext]:
        from pynenc.runner.runner_context import RunnerContext

        if not runner_ids:
            return []
        stored = self.store.hmget(self._key("rctx"), runner_ids)
        return [RunnerContext.from_json(value) for value in stored if value is not None]

    def _get_matching_runner_contexts(self, partial_id: str) -> list[RunnerContext]:
        from pynenc.runner.runner_context import RunnerContext

        stored = self.store.hgetall(self._key("rctx"))
        return [
            RunnerContext.from_json(stored[runner_id])
            for runner_id in sorted(stored)
            if partial_id in runner_id
        ]

    # ------------------------------------------------------------------ purge

    def purge(self) -> None:
        self.store.delete_matching("s:*")
        self.store.hdel(APPS_KEY, self.app.app_id)
        self._runner_contexts.clear()
        self._prefetched.clear()
        self._finals.forget()
