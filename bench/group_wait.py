"""A large group awaited while it runs: ``parallelize`` N no-op calls, start a ThreadRunner in
this process, and time ``group.wait()`` from the runner's start to the last result.

    .venv/bin/python bench/group_wait.py --config bench/configs/redis.toml --count 10000
    .venv/bin/python bench/group_wait.py --config bench/configs/sqlite.toml --count 10000

Reports tasks/s and this process's CPU per task (runner and waiter together). A waiter that
did work per result for every invocation still pending (re-registering the rest after each one)
would make this quadratic in N; the figure shows it is not. The app id is the session's own and
its data is purged at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_config import ENV_VAR, BenchConfig, parse_assignments  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="pynenc config file (TOML/JSON/YAML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--count", type=int, default=10_000, help="invocations in the group")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the wait")
    args = parser.parse_args()

    values = {
        "app_id": f"pynenc-bench-group-{uuid.uuid4().hex[:8]}",
        "logging_level": "warning",
        **parse_assignments(args.set),
    }
    os.environ[ENV_VAR] = BenchConfig(values, args.config).to_env()

    import bench_tasks

    from pynenc.runner.thread_runner import ThreadRunner
    from pynenc.testing.harness import RunningRunner

    app = bench_tasks.app
    try:
        group = bench_tasks.noop.parallelize([() for _ in range(args.count)])
        started, cpu = time.perf_counter(), time.process_time()
        runner = RunningRunner(ThreadRunner(app)).start()
        try:
            group.wait(timeout=args.timeout)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
        finally:
            runner.stop()
        print(
            f"group of {args.count:,} awaited while running: {args.count / elapsed:,.0f} tasks/s, "
            f"{elapsed:.2f} s, CPU {1000 * cpu / args.count:.3f} ms per task "
            f"({type(app.orchestrator).__name__})"
        )
    finally:
        app.purge()
    return 0


if __name__ == "__main__":
    sys.exit(main())
