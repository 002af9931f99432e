"""Which invocation and runner the current thread (or asyncio task) is working for.

Calls made inside a running task read these to record their parent invocation and the runner
context that registered them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.invocation.dist_invocation import DistributedInvocation
    from pynenc.runner.base_runner import BaseRunner
    from pynenc.runner.runner_context import RunnerContext

current_invocation: ContextVar[DistributedInvocation[Any, Any] | None] = ContextVar(
    "pynenc_current_invocation", default=None
)
current_runner: ContextVar[BaseRunner | None] = ContextVar("pynenc_current_runner", default=None)
current_runner_context: ContextVar[RunnerContext | None] = ContextVar(
    "pynenc_current_runner_context", default=None
)
