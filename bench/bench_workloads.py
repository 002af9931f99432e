"""The measured workloads. Each runs once against live runners and returns its figures.

Peers (Celery, Huey, RQ, Dramatiq, upstream pynenc) were measured with exactly these
definitions, so they are kept literal:

- W1: submit 2,000 no-op tasks one call at a time (no ``parallelize``), then await each result
  in submission order; tasks/s from the first submit to the last result.
- W2: 200 sequential round trips (call a no-op task, wait for its result, repeat); p50 and p95.
- W3: one parent task fans out 100 children with ``parallelize`` and returns their sum; seconds
  from submitting the parent to its result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bench_tasks

from pynenc.exceptions import InvocationTimeoutError
from pynenc.invocation.base_invocation import BaseInvocation

W1_TASKS = 2_000
W2_ROUND_TRIPS = 200
W3_CHILDREN = 100
LIVENESS_CHECK_SECONDS = 1.0
"""Longest single wait before checking that the runners are still alive."""


class RunFailed(Exception):
    """A run could not finish: timeout, dead worker, wrong result."""


@dataclass(frozen=True)
class RunContext:
    """What a run needs besides the tasks: when to give up, and how to tell runners died."""

    deadline: float
    runner_problem: Callable[[], str | None]

    def check_deadline(self, doing: str) -> None:
        if time.monotonic() >= self.deadline:
            raise RunFailed(f"timed out while {doing}")


@dataclass(frozen=True)
class Metric:
    """One reported figure of a workload."""

    key: str
    label: str
    unit: str


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    metrics: tuple[Metric, ...]
    run: Callable[[RunContext], dict[str, float]]
    tasks: int
    """Invocations one run executes (for CPU per task)."""


def wait_result(invocation: BaseInvocation[Any, Any], ctx: RunContext) -> Any:
    """The invocation's result; :class:`RunFailed` past the deadline or when a runner died."""
    while True:
        remaining = ctx.deadline - time.monotonic()
        if remaining <= 0:
            raise RunFailed(f"timed out waiting for invocation {invocation.invocation_id[:7]}")
        try:
            return invocation.wait(timeout=min(remaining, LIVENESS_CHECK_SECONDS))
        except InvocationTimeoutError:
            problem = ctx.runner_problem()
            if problem:
                raise RunFailed(problem) from None


def submit_and_await(count: int, ctx: RunContext) -> float:
    """Submit ``count`` no-op calls one at a time, await each in order; seconds taken."""
    noop = bench_tasks.noop
    start = time.perf_counter()
    invocations = []
    for i in range(count):
        invocations.append(noop())
        if i % 100 == 0:
            ctx.check_deadline(f"submitting ({i} of {count} submitted)")
    for invocation in invocations:
        wait_result(invocation, ctx)
    return time.perf_counter() - start


def run_w1(ctx: RunContext) -> dict[str, float]:
    elapsed = submit_and_await(W1_TASKS, ctx)
    return {"throughput": W1_TASKS / elapsed}


def run_w2(ctx: RunContext) -> dict[str, float]:
    noop = bench_tasks.noop
    samples: list[float] = []
    for _ in range(W2_ROUND_TRIPS):
        start = time.perf_counter()
        wait_result(noop(), ctx)
        samples.append(time.perf_counter() - start)
    return {"p50": percentile(samples, 50) * 1000, "p95": percentile(samples, 95) * 1000}


def run_w3(ctx: RunContext) -> dict[str, float]:
    remaining = ctx.deadline - time.monotonic()
    start = time.perf_counter()
    total = wait_result(bench_tasks.fan_out(W3_CHILDREN, remaining), ctx)
    elapsed = time.perf_counter() - start
    expected = sum(range(W3_CHILDREN))
    if total != expected:
        raise RunFailed(f"fan-out returned {total!r}, expected {expected}")
    return {"fan_out": elapsed}


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``pct``% of samples <= it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


WORKLOADS: dict[str, Workload] = {
    "W1": Workload(
        "W1",
        f"{W1_TASKS:,} no-op tasks submitted one by one, awaited in order",
        (Metric("throughput", "W1 throughput", "tasks/s"),),
        run_w1,
        W1_TASKS,
    ),
    "W2": Workload(
        "W2",
        f"{W2_ROUND_TRIPS} sequential round trips of a no-op task",
        (
            Metric("p50", "W2 round trip p50", "ms"),
            Metric("p95", "W2 round trip p95", "ms"),
        ),
        run_w2,
        W2_ROUND_TRIPS,
    ),
    "W3": Workload(
        "W3",
        f"a parent fans out {W3_CHILDREN} children with parallelize and sums them",
        (Metric("fan_out", f"W3 fan-out {W3_CHILDREN}", "s"),),
        run_w3,
        W3_CHILDREN + 1,
    ),
}
