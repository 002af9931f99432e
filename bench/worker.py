"""A bench worker: builds the bench app, imports its tasks and runs a runner in the foreground.

    python bench/worker.py [--config FILE] [--set key=value ...] [--runner ThreadRunner]
                           [--threads N] [--stop-with-parent]

``run.py`` starts these with the config in :data:`bench_config.ENV_VAR`; ``--config``/``--set``
override it for standalone use. Once the runner is registered with the orchestrator and looping,
the worker prints ``READY <pid> <runner_id>`` on stdout. SIGTERM stops it gracefully.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench_config import ENV_VAR, BenchConfig, BenchConfigError, parse_assignments
from bench_procs import READY_PREFIX

if TYPE_CHECKING:
    from pynenc import Pynenc
    from pynenc.runner.base_runner import BaseRunner

READY_TIMEOUT_SECONDS = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run a pynenc runner for the bench.")
    parser.add_argument("--config", metavar="FILE", help="pynenc config file (TOML/JSON/YAML)")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE"
    )
    parser.add_argument("--runner", default="ThreadRunner", help="registered runner class name")
    parser.add_argument("--threads", type=int, help="max_threads of the runner")
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="stop when stdin closes (the process that started this worker has gone)",
    )
    return parser.parse_args(argv)


def export_config(args: argparse.Namespace) -> None:
    """Put the config given on the command line into the environment bench_tasks reads."""
    config = BenchConfig.from_env()
    if args.config:
        config = config.with_filepath(str(Path(args.config).resolve()))
    config = config.merged(parse_assignments(args.assignments))
    if args.threads is not None:
        config = config.merged({"max_threads": str(args.threads)})
    os.environ[ENV_VAR] = config.to_env()


def announce_when_ready(app: Pynenc, runner: BaseRunner) -> None:
    """Print the READY line once the orchestrator lists the runner as active."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    stopped = threading.Event()
    while time.monotonic() < deadline:
        if runner.running and any(
            info.runner_id == runner.runner_id for info in app.orchestrator.get_active_runners()
        ):
            print(f"{READY_PREFIX} {os.getpid()} {runner.runner_id}", flush=True)
            return
        stopped.wait(0.01)
    print(f"runner {runner.runner_id} was not active after {READY_TIMEOUT_SECONDS}s", flush=True)


def stop_when_stdin_closes(runner: BaseRunner) -> None:
    sys.stdin.read()
    runner.stop_runner_loop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        export_config(args)
    except BenchConfigError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2

    import bench_tasks

    from pynenc.plugins.registry import get_registry

    app = bench_tasks.app
    runner_cls: type[BaseRunner] = get_registry().resolve("runner", args.runner, "--runner")
    runner = runner_cls(app)
    app.runner = runner
    threading.Thread(
        target=announce_when_ready, args=(app, runner), name="bench-ready", daemon=True
    ).start()
    if args.stop_with_parent:
        threading.Thread(
            target=stop_when_stdin_closes, args=(runner,), name="bench-parent", daemon=True
        ).start()
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
