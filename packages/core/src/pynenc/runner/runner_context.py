"""Who is doing something: the runner (and process, host and thread) behind every status change."""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, replace
from functools import cache
from typing import Any


@cache
def _hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True, slots=True)
class RunnerContext:
    """Identifies a runner, the process and thread it works in, and its parent runner if any.

    Every history entry names the context that caused it, so ``pynenc invocation show`` can tell
    which worker ran what, and recovery can tell whose invocations to take over.
    """

    runner_cls: str
    runner_id: str
    pid: int
    hostname: str
    thread_id: int = 0
    parent_ctx: RunnerContext | None = None

    @classmethod
    def current(
        cls, runner_cls: str, runner_id: str, parent_ctx: RunnerContext | None = None
    ) -> RunnerContext:
        """A context for the calling process and thread."""
        return cls(
            runner_cls=runner_cls,
            runner_id=runner_id,
            pid=os.getpid(),
            hostname=_hostname(),
            thread_id=threading.get_ident(),
            parent_ctx=parent_ctx,
        )

    def new_child(self, runner_cls: str, runner_id: str) -> RunnerContext:
        return RunnerContext.current(runner_cls, runner_id, parent_ctx=self)

    def with_thread(self) -> RunnerContext:
        return replace(self, thread_id=threading.get_ident())

    @property
    def root_runner_id(self) -> str:
        ctx = self
        while ctx.parent_ctx is not None:
            ctx = ctx.parent_ctx
        return ctx.runner_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "runner_cls": self.runner_cls,
            "runner_id": self.runner_id,
            "pid": self.pid,
            "hostname": self.hostname,
            "thread_id": self.thread_id,
            "parent_ctx": self.parent_ctx.to_dict() if self.parent_ctx else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunnerContext:
        parent = data.get("parent_ctx")
        return cls(
            runner_cls=data["runner_cls"],
            runner_id=data["runner_id"],
            pid=int(data["pid"]),
            hostname=data["hostname"],
            thread_id=int(data.get("thread_id", 0)),
            parent_ctx=cls.from_dict(parent) if parent else None,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str) -> RunnerContext:
        return cls.from_dict(json.loads(data))

    def __str__(self) -> str:
        return f"{self.runner_cls}({self.runner_id}@{self.hostname}:{self.pid})"
