"""Redis memory per finished invocation, and what the purge settings give back.

    .venv/bin/python bench/redis_memory.py --redis-url redis://127.0.0.1:6379/0 --count 5000

Runs ``--count`` no-op invocations to SUCCESS (registered with ``parallelize``, run by a
ThreadRunner in this process) under an app id of its own, and reads the server's
``used_memory`` (``INFO memory``) before, after they finished, after the orchestrator's purge of
final invocations (what ``auto_final_invocation_purge_hours`` does every hour), and after the
app's purge. Other clients writing to the same server at the same time skew the figures: use a
server of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_config import ENV_VAR, BenchConfig  # noqa: E402

REDIS_STACK = {
    "orchestrator_cls": "RedisOrchestrator",
    "broker_cls": "RedisBroker",
    "state_backend_cls": "RedisStateBackend",
    "trigger_cls": "RedisTrigger",
    "client_data_store_cls": "RedisClientDataStore",
}


def used_memory(client: object) -> int:
    return int(client.info("memory")["used_memory"])  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--count", type=int, default=5_000)
    args = parser.parse_args()

    values = {
        **REDIS_STACK,
        "redis_url": args.redis_url,
        "app_id": f"pynenc-bench-memory-{uuid.uuid4().hex[:8]}",
        "logging_level": "warning",
    }
    os.environ[ENV_VAR] = BenchConfig(values).to_env()

    import bench_tasks
    import redis

    from pynenc.runner.thread_runner import ThreadRunner
    from pynenc.testing.harness import RunningRunner

    app = bench_tasks.app
    server = redis.Redis.from_url(args.redis_url)
    keys_before = server.dbsize()
    before = used_memory(server)
    try:
        runner = RunningRunner(ThreadRunner(app)).start()
        try:
            for start in range(0, args.count, 1_000):
                batch = min(1_000, args.count - start)
                bench_tasks.noop.parallelize([() for _ in range(batch)]).wait(timeout=300)
        finally:
            runner.stop()
        finished = used_memory(server)
        keys_finished = server.dbsize()
        removed = app.orchestrator.purge_final_invocations(
            older_than=app.clock.now() + timedelta(seconds=1)
        )
        after_orchestrator_purge = used_memory(server)
    finally:
        app.purge()
    deadline = time.monotonic() + 5.0  # the purge's UNLINKs free in the background
    while server.info("memory").get("lazyfree_pending_objects", 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    after_app_purge = used_memory(server)

    def per_invocation(delta: int) -> str:
        return f"{delta / args.count:,.0f} B per invocation"

    print(f"{args.count:,} finished no-op invocations on {args.redis_url}")
    print(f"  used_memory before              {before / 1e6:8.2f} MB")
    print(
        f"  after they finished             {finished / 1e6:8.2f} MB  "
        f"({per_invocation(finished - before)}; {keys_finished - keys_before:,} keys)"
    )
    print(
        f"  after the orchestrator's purge  {after_orchestrator_purge / 1e6:8.2f} MB  "
        f"({removed:,} removed; state backend keeps "
        f"{per_invocation(after_orchestrator_purge - before)})"
    )
    print(f"  after the app's purge           {after_app_purge / 1e6:8.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
