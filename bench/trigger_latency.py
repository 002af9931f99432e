"""Trigger latency: from an emitted event, and from a cron tick, to the triggered invocation.

    .venv/bin/python bench/trigger_latency.py                     # default settings, 1-3 runners
    .venv/bin/python bench/trigger_latency.py --runners 2 --duration 60 \\
        --set atomic_service_interval_minutes=0.1 --set atomic_service_check_interval_minutes=0.01

Starts N runner processes (``pynenc --app trigger_latency_tasks:app runner start``) on a SQLite
file of its own, waits ``--warmup`` seconds, then for ``--duration`` seconds emits an event
every 1-3 s (random) while a cron trigger ticks every 5 s. Latency is the time from the
event's emission (or the tick) to the triggered invocation's registration (``fired``) and to its
start on a runner (``running``), read from the invocation history; a cron tick that fell while
no runner held the atomic-service slot is measured to the late firing it was coalesced into
(``missed`` counts those ticks for cron). Events still unfired when the measurement ends wait up
to one more atomic-service cycle; any left after that count as missed.
Progress goes to stderr, the table to stdout, ``--json FILE`` writes every sample.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYNENC = Path(sys.executable).with_name("pynenc")


@dataclass
class Samples:
    """Latencies in seconds for one source (event or cron) and one runner count."""

    fired: list[float] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    missed: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self.fired),
            "missed": self.missed,
            "fired": _stats(self.fired),
            "running": _stats(self.running),
        }


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered) + 0.5) - 1))]

    return {
        "p50": rank(0.50),
        "p95": rank(0.95),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runners", default="1,2,3", help="runner counts, e.g. 1,2,3")
    parser.add_argument("--duration", type=float, default=330.0, help="seconds measured per count")
    parser.add_argument("--warmup", type=float, default=35.0, help="seconds before measuring")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE"
    )
    parser.add_argument("--json", metavar="FILE")
    return parser.parse_args(argv)


def environment(db: Path, assignments: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNENC__")}
    env.update(
        {
            "PYNENC__APP_ID": f"bench-trigger-{uuid.uuid4().hex[:8]}",
            "PYNENC__SQLITE_DB_PATH": str(db),
            "PYNENC__TRIGGER_TASK_MODULES": "trigger_latency_tasks",
            "PYNENC__LOGGING_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        }
    )
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        env[f"PYNENC__{key.strip().upper()}"] = value.strip()
    return env


def measure(count: int, args: argparse.Namespace, workdir: Path) -> dict[str, Samples]:
    db = workdir / f"runners-{count}.db"
    env = environment(db, args.assignments)
    os.environ.update({k: v for k, v in env.items() if k.startswith("PYNENC__")})
    sys.modules.pop("trigger_latency_tasks", None)
    sys.path.insert(0, str(HERE))
    import trigger_latency_tasks as tasks

    app = tasks.app
    processes = []
    for index in range(count):
        log = (workdir / f"runner-{count}-{index}.log").open("w")
        processes.append(
            subprocess.Popen(
                [str(PYNENC), "--app", "trigger_latency_tasks:app", "runner", "start"],
                cwd=HERE,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        _wait(lambda: len(app.orchestrator.get_active_runners()) >= count, 60, "runners")
        _log(f"{count} runner(s) up; warming up {args.warmup:.0f}s")
        time.sleep(args.warmup)
        start = app.clock.now()
        sent: dict[str, datetime] = {}
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            event_id = app.trigger.emit_event(tasks.EVENT_CODE, {"sent": time.time()})
            event = app.trigger.get_event(event_id)
            assert event is not None
            sent[event_id] = event.emitted_at
            time.sleep(random.uniform(1.0, 3.0))
        end = app.clock.now()
        cycle = app.conf.atomic_service_interval_minutes * 60
        _log(f"measured {args.duration:.0f}s; draining up to {cycle + 30:.0f}s")
        _wait(
            lambda: all(app.trigger.get_invocations_for_event(e) for e in sent),
            cycle + 30,
            "events to fire",
            fail=False,
        )
        return {
            "event": _event_samples(app, sent),
            "cron": _cron_samples(app, tasks.on_cron, start, end),
        }
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def _timestamps(app: Any, invocation_id: str) -> tuple[datetime | None, datetime | None]:
    from pynenc.invocation.status import InvocationStatus

    registered = running = None
    for entry in app.state_backend.get_history(invocation_id):
        status = entry.status_record.status
        if status == InvocationStatus.REGISTERED and registered is None:
            registered = entry.status_record.timestamp
        if status == InvocationStatus.RUNNING and running is None:
            running = entry.status_record.timestamp
    return registered, running


def _event_samples(app: Any, sent: dict[str, datetime]) -> Samples:
    samples = Samples()
    for event_id, emitted_at in sent.items():
        fired = app.trigger.get_invocations_for_event(event_id)
        if not fired:
            samples.missed += 1
            continue
        registered, running = _timestamps(app, fired[0])
        if registered:
            samples.fired.append((registered - emitted_at).total_seconds())
        if running:
            samples.running.append((running - emitted_at).total_seconds())
    return samples


def _cron_samples(app: Any, task: Any, start: datetime, end: datetime) -> Samples:
    """For every tick in [start, end): the time until an invocation covering it was
    registered (started), i.e. the firing of that tick or of the later tick it was coalesced
    into; ``missed`` counts the ticks coalesced into a later one."""
    from croniter import croniter

    from pynenc.orchestrator.base_orchestrator import InvocationQuery

    ids = list(
        app.orchestrator.iter_invocations(InvocationQuery(task_ids=frozenset({task.task_id.key})))
    )
    fired: list[tuple[datetime, datetime | None, datetime | None]] = []
    for invocation in app.state_backend.get_invocations(ids):
        tick = datetime.fromisoformat(invocation.call.arguments["tick"])
        fired.append((tick, *_timestamps(app, invocation.invocation_id)))
    fired.sort(key=lambda item: item[0])
    samples = Samples()
    ticks = croniter("* * * * * */5", start)
    tick: datetime = ticks.get_next(datetime)
    while tick < end:
        covering = next((item for item in fired if item[0] >= tick), None)
        if covering is not None:
            samples.missed += covering[0] != tick
            if covering[1]:
                samples.fired.append((covering[1] - tick).total_seconds())
            if covering[2]:
                samples.running.append((covering[2] - tick).total_seconds())
        tick = ticks.get_next(datetime)
    return samples


def _wait(predicate: Any, timeout: float, what: str, fail: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if fail:
                raise SystemExit(f"timed out waiting for {what}")
            return
        time.sleep(0.2)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _format(results: dict[int, dict[str, Samples]]) -> str:
    lines = [
        "runners  source  n    missed  fired p50/p95/max (s)      running p50/p95/max (s)",
    ]
    for count, by_source in results.items():
        for source, samples in by_source.items():
            summary = samples.summary()

            def cell(stats: dict[str, float]) -> str:
                if not stats:
                    return "-"
                return f"{stats['p50']:.2f} / {stats['p95']:.2f} / {stats['max']:.2f}"

            lines.append(
                f"{count:<8} {source:<7} {summary['n']:<4} {summary['missed']:<7} "
                f"{cell(summary['fired']):<26} {cell(summary['running'])}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(c) for c in args.runners.split(",") if c.strip()]
    results: dict[int, dict[str, Samples]] = {}
    with tempfile.TemporaryDirectory(prefix="pynenc-trigger-bench-") as directory:
        for count in counts:
            results[count] = measure(count, args, Path(directory))
            _log(_format({count: results[count]}))
    settings = args.assignments or ["(defaults)"]
    print(f"settings: {', '.join(settings)}; duration {args.duration:.0f}s per runner count")
    print(_format(results))
    if args.json:
        payload = {
            "settings": args.assignments,
            "duration": args.duration,
            "results": {
                str(count): {
                    source: {**samples.summary(), "samples": samples.fired}
                    for source, samples in by_source.items()
                }
                for count, by_source in results.items()
            },
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
