"""pynenc benchmark: throughput (W1), round-trip latency (W2) and fan-out (W3) for any config
and runner, plus the runners' memory.

    python bench/run.py [--config FILE | --set key=value ...] [--runner ThreadRunner]
                        [--workers N] [--threads N] [--workload W1,W2,W3] [--runs 3]
                        [--long N] [--json FILE]

See bench/README.md. Each workload gets one warm-up run, then ``--runs`` measured runs; the data
is purged between runs. With the memory stack the runner runs in a thread of this process;
with backends shared across processes, ``--workers`` processes run ``bench/worker.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from bench_config import ENV_VAR, BenchConfig, BenchConfigError, parse_assignments
from bench_procs import (
    HostError,
    InProcessHost,
    MemorySample,
    RunnerHost,
    WorkerProcessHost,
    read_memory,
    start_all,
    stop_all,
)

if TYPE_CHECKING:
    from bench_workloads import RunContext, Workload

    from pynenc import Pynenc
    from pynenc.runner.base_runner import BaseRunner

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
COMPONENT_FIELDS = (
    "orchestrator_cls",
    "broker_cls",
    "state_backend_cls",
    "trigger_cls",
    "client_data_store_cls",
    "serializer_cls",
)
LONG_WAVE = 2_000
HUNG_GRACE_SECONDS = 10.0
"""Extra time a run gets past its deadline before it counts as hung (a blocked backend call)."""

T = TypeVar("T")


class RunHung(Exception):
    """A run did not return even after its deadline: the bench cannot trust later runs."""


# ---------------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Benchmark pynenc against any config and runner (see bench/README.md).",
    )
    parser.add_argument("--config", metavar="FILE", help="pynenc config file (TOML/JSON/YAML)")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config value, repeatable; 'section.key=value' for a section; overrides --config",
    )
    parser.add_argument("--runner", default="ThreadRunner", help="registered runner class name")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes for shared backends (default 2); the memory stack always "
        "runs one runner inside this process",
    )
    parser.add_argument("--threads", type=int, help="max_threads of each runner (default: config)")
    parser.add_argument(
        "--workload",
        default=None,
        help="comma-separated W1,W2,W3 or 'none' (default: all, or none with --long)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs after the warm-up")
    parser.add_argument(
        "--long",
        type=int,
        default=0,
        metavar="N",
        help="also submit N no-op tasks in waves of "
        f"{LONG_WAVE:,} and report runner memory after {LONG_WAVE:,} and after N",
    )
    parser.add_argument(
        "--long-purge",
        action="store_true",
        help="purge the data after each wave of the long run (isolates the runners' own "
        "memory from stored invocations, which the memory stack keeps in this process)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="do not purge the data between runs, only at the end (for runners that do not "
        "survive a purge while they work)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the runner in a thread of this process even with shared backends",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run")
    parser.add_argument(
        "--startup-timeout", type=float, default=60.0, help="seconds for runners to be ready"
    )
    parser.add_argument(
        "--stop-timeout", type=float, default=30.0, help="seconds for runners to stop"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.long < 0:
        parser.error("--long must not be negative")
    return args


def selected_workloads(spec: str | None, long_run: int) -> list[str]:
    from bench_workloads import WORKLOADS

    if spec is None:
        return [] if long_run else list(WORKLOADS)
    if spec.strip().lower() in ("", "none"):
        return []
    names = [name.strip().upper() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise BenchConfigError(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    return names


def build_config(args: argparse.Namespace) -> BenchConfig:
    """The session's config: file + --set + --threads, with a fresh app id unless one is set."""
    filepath = None
    if args.config:
        path = Path(args.config).resolve()
        if not path.is_file():
            raise BenchConfigError(f"--config {args.config}: no such file")
        filepath = str(path)
    values = parse_assignments(args.assignments)
    if args.threads is not None:
        values["max_threads"] = str(args.threads)
    values.setdefault("app_id", f"pynenc-bench-{uuid.uuid4().hex[:8]}")
    return BenchConfig(values, filepath)


# ---------------------------------------------------------------------------------- results


@dataclass
class MetricResult:
    workload: str
    key: str
    label: str
    unit: str
    runs: list[float] = field(default_factory=list)
    warmup: float | None = None

    def summary(self) -> dict[str, float] | None:
        if not self.runs:
            return None
        return {
            "median": statistics.median(self.runs),
            "min": min(self.runs),
            "max": max(self.runs),
        }


@dataclass
class WorkloadResult:
    name: str
    title: str
    metrics: list[MetricResult]
    runs_requested: int
    failures: list[str] = field(default_factory=list)
    cpu_client: list[float] = field(default_factory=list)
    """CPU milliseconds per task of the bench process in each run (with an in-process runner,
    the runner's too)."""
    cpu_workers: list[float] = field(default_factory=list)
    """CPU milliseconds per task of the worker processes together in each run (none when the
    runner is in-process or the system does not tell)."""


@dataclass
class Report:
    meta: dict[str, Any]
    workloads: list[WorkloadResult] = field(default_factory=list)
    idle_memory: dict[str, MemorySample] = field(default_factory=dict)
    final_memory: dict[str, MemorySample] = field(default_factory=dict)
    long_run: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(w.failures for w in self.workloads)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "results": [
                {
                    "workload": w.name,
                    "description": w.title,
                    "metric": m.key,
                    "label": m.label,
                    "unit": m.unit,
                    **(m.summary() or {}),
                    "runs": m.runs,
                    "warmup": m.warmup,
                    "failures": w.failures,
                }
                for w in self.workloads
                for m in w.metrics
            ],
            "memory": {
                "idle": {k: v.to_dict() for k, v in self.idle_memory.items()},
                "final": {k: v.to_dict() for k, v in self.final_memory.items()},
            },
            "cpu_ms_per_task": {
                w.name: {"client": w.cpu_client, "workers": w.cpu_workers} for w in self.workloads
            },
            "long": self.long_run,
            "errors": self.errors,
        }


# ---------------------------------------------------------------------------------- running


class Session:
    """The app, its runners and the run loop of one bench invocation."""

    def __init__(self, app: Pynenc, hosts: list[RunnerHost], args: argparse.Namespace) -> None:
        self.app = app
        self.hosts = hosts
        self.args = args

    def runner_problem(self) -> str | None:
        for host in self.hosts:
            problem = host.problem()
            if problem:
                return problem
        return None

    def context(self) -> RunContext:
        from bench_workloads import RunContext

        return RunContext(time.monotonic() + self.args.timeout, self.runner_problem)

    def guarded(self, body: Callable[[RunContext], T]) -> T:
        """Run ``body`` in a thread and give up on it shortly after its deadline."""
        ctx = self.context()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = body(ctx)
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target, name="bench-run", daemon=True)
        thread.start()
        thread.join(max(0.0, ctx.deadline - time.monotonic()) + HUNG_GRACE_SECONDS)
        if thread.is_alive():
            raise RunHung(f"no answer {HUNG_GRACE_SECONDS:.0f}s past the run's deadline")
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    def purge(self) -> None:
        """Drop the run's data so the next run starts clean; runners stay registered."""
        self.app.purge()
        runner_ids = [rid for host in self.hosts for rid in host.runner_ids]
        self.app.orchestrator.register_runner_heartbeats(runner_ids, can_run_atomic_service=True)

    def run_workload(self, workload: Workload) -> WorkloadResult:
        from bench_workloads import RunFailed

        result = WorkloadResult(
            workload.name,
            workload.title,
            [MetricResult(workload.name, m.key, m.label, m.unit) for m in workload.metrics],
            self.args.runs,
        )
        for index in range(self.args.runs + 1):
            label = "warm-up" if index == 0 else f"run {index}"
            problem = self.runner_problem()
            if problem:
                raise HostError(f"stopped before {workload.name} {label}: {problem}")
            cpu_before = self.cpu_seconds()
            try:
                figures = self.guarded(workload.run)
            except (RunFailed, HostError) as exc:
                result.failures.append(f"{label}: {exc}")
                progress(f"{workload.name} {label}: FAILED ({exc})")
            else:
                for metric in result.metrics:
                    if index == 0:
                        metric.warmup = figures[metric.key]
                    else:
                        metric.runs.append(figures[metric.key])
                if index > 0:
                    self.note_cpu(result, workload.tasks, cpu_before, self.cpu_seconds())
                shown = ", ".join(
                    f"{m.label.split(' ', 1)[1]} {fmt(figures[m.key])} {m.unit}"
                    for m in result.metrics
                )
                progress(f"{workload.name} {label}: {shown}")
            if not self.args.keep_data:
                self.purge()
        return result

    def cpu_seconds(self) -> tuple[float, float | None]:
        """CPU seconds used so far by this process and by the worker processes together
        (None when a runner is in-process or the system does not tell)."""
        workers: float | None = 0.0
        for host in self.hosts:
            used = host.cpu_seconds()
            workers = None if used is None or workers is None else workers + used
        return time.process_time(), workers

    @staticmethod
    def note_cpu(
        result: WorkloadResult,
        tasks: int,
        before: tuple[float, float | None],
        after: tuple[float, float | None],
    ) -> None:
        result.cpu_client.append(1000 * (after[0] - before[0]) / tasks)
        if before[1] is not None and after[1] is not None:
            result.cpu_workers.append(1000 * (after[1] - before[1]) / tasks)

    def run_long(self, total: int) -> dict[str, Any]:
        from bench_workloads import submit_and_await

        checkpoints: list[dict[str, Any]] = []
        done = 0
        elapsed = 0.0
        while done < total:
            count = min(LONG_WAVE, total - done)
            elapsed += self.guarded(functools.partial(submit_and_await, count))
            done += count
            if self.args.long_purge:
                self.purge()
            memory = self.memory()
            samples = {name: sample.to_dict() for name, sample in memory.items()}
            checkpoints.append({"tasks": done, "memory": samples})
            shown = ", ".join(f"{k} {mb(v.rss_kb)}" for k, v in memory.items())
            progress(f"long run: {done:,}/{total:,} tasks, RSS {shown}")
        return {
            "tasks": total,
            "wave": LONG_WAVE,
            "purged_between_waves": self.args.long_purge,
            "seconds": elapsed,
            "throughput": total / elapsed if elapsed else None,
            "checkpoints": checkpoints,
        }

    def memory(self) -> dict[str, MemorySample]:
        samples: dict[str, MemorySample] = {}
        for host in self.hosts:
            samples.update(host.memory())
        in_process = any(isinstance(host, InProcessHost) for host in self.hosts)
        client = "client + in-process runner" if in_process else "client"
        samples[f"{client} (pid {os.getpid()})"] = read_memory()
        return samples


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- output


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.1f} MB"


def render(report: Report) -> str:
    meta = report.meta
    lines = [
        f"pynenc {meta['pynenc']} | Python {meta['python']} | {meta['cpus']} CPUs | "
        f"commit {meta['commit'] or 'unknown'}",
        "components: " + ", ".join(f"{k}={v}" for k, v in meta["components"].items()),
        f"runner: {meta['runner']} x {meta['runner_hosts']}, max_threads={meta['max_threads']}"
        f" | app_id {meta['app_id']} | 1 warm-up + {meta['runs']} runs per workload"
        f"{'' if meta['purged_between_runs'] else ', data kept between runs'}",
        "",
    ]
    rows = [("workload", "median", "min-max", "unit", "runs ok")]
    for workload in report.workloads:
        for metric in workload.metrics:
            summary = metric.summary()
            ok = f"{len(metric.runs)}/{workload.runs_requested}"
            if summary is None:
                rows.append((metric.label, "FAILED", "-", metric.unit, ok))
                continue
            spread = f"{fmt(summary['min'])}-{fmt(summary['max'])}"
            rows.append((metric.label, fmt(summary["median"]), spread, metric.unit, ok))
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    lines.extend(render_cpu(report))
    lines.extend(render_memory(report))
    if report.long_run:
        lines.append("")
        lines.extend(render_long(report.long_run))
    failures = [f"{w.name} {f}" for w in report.workloads for f in w.failures]
    if failures or report.errors:
        lines.append("")
        lines.append("FAILURES:")
        lines.extend(f"  {line}" for line in [*failures, *report.errors])
    return "\n".join(lines)


def render_cpu(report: Report) -> list[str]:
    """CPU per task, the median of the runs: less sensitive than times to what else the
    machine runs (the workers' figure has the 10 ms granularity of ``/proc``: W1's is the one
    to read)."""
    lines = []
    for workload in report.workloads:
        if not workload.cpu_client:
            continue
        parts = [f"client {statistics.median(workload.cpu_client):.3f}"]
        if workload.cpu_workers:
            parts.append(f"workers {statistics.median(workload.cpu_workers):.3f}")
        lines.append(f"  {workload.name}: " + ", ".join(parts))
    if not lines:
        return []
    return [
        "CPU per task, ms (median of runs; the client includes an in-process runner):",
        *lines,
        "",
    ]


def render_memory(report: Report) -> list[str]:
    lines = ["memory (peak = VmHWM, idle = RSS once the runner was ready):"]
    names = list(report.final_memory) or list(report.idle_memory)
    width = max((len(name) for name in names), default=0)
    for name in names:
        final = report.final_memory.get(name)
        idle = report.idle_memory.get(name)
        idle_text = f"idle {mb(idle.rss_kb)}" if idle else ""
        peak = mb(final.peak_kb if final else None)
        lines.append(f"  {name.ljust(width)}  peak {peak:>10}  {idle_text}".rstrip())
    return lines


def render_long(long_run: dict[str, Any]) -> list[str]:
    checkpoints = long_run["checkpoints"]
    first, last = checkpoints[0], checkpoints[-1]
    lines = [
        f"long run: {long_run['tasks']:,} no-op tasks in waves of {long_run['wave']:,}"
        f"{' (purged after each wave)' if long_run['purged_between_waves'] else ''}, "
        f"{fmt(long_run['throughput'])} tasks/s overall",
    ]
    width = max(len(name) for name in first["memory"])
    lines.append(
        f"  {'process'.ljust(width)}  {'RSS@' + format(first['tasks'], ','):>12}  "
        f"{'RSS@' + format(last['tasks'], ','):>12}  change"
    )
    for name, start in first["memory"].items():
        end = last["memory"].get(name)
        if end is None or start["rss_kb"] is None or end["rss_kb"] is None:
            lines.append(f"  {name.ljust(width)}  {mb(start['rss_kb']):>12}  {'gone':>12}")
            continue
        change = (end["rss_kb"] - start["rss_kb"]) / start["rss_kb"] * 100
        lines.append(
            f"  {name.ljust(width)}  {mb(start['rss_kb']):>12}  {mb(end['rss_kb']):>12}"
            f"  {change:+.1f}%"
        )
    return lines


# ---------------------------------------------------------------------------------- setup


def make_hosts(
    app: Pynenc, runner_cls: type[BaseRunner], args: argparse.Namespace, log_dir: Path
) -> list[RunnerHost]:
    if args.in_process or not app.spans_processes:
        if not app.spans_processes and not runner_cls.mem_compatible():
            raise BenchConfigError(
                f"{runner_cls.__name__} cannot run with in-memory components (they live in one "
                "process); use ThreadRunner or configure a shared backend."
            )
        if args.workers not in (None, 1):
            progress("note: the runner runs inside this process; --workers is ignored")
        return [InProcessHost(app, runner_cls)]
    command = [
        sys.executable,
        str(BENCH_DIR / "worker.py"),
        "--runner",
        args.runner,
        "--stop-with-parent",
    ]
    env = dict(os.environ)
    return [
        WorkerProcessHost(i, command, env, log_dir / f"worker-{i}.log")
        for i in range(1, (args.workers or 2) + 1)
    ]


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def describe(app: Pynenc, args: argparse.Namespace, hosts: list[RunnerHost]) -> dict[str, Any]:
    import pynenc
    from pynenc.conf.config_runner import ConfigThreadRunner

    in_process = any(isinstance(h, InProcessHost) for h in hosts)
    return {
        "pynenc": pynenc.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": git_commit(),
        "app_id": app.app_id,
        "config_file": app.config_filepath,
        "config_values": redacted(app.config_values),
        "components": {f: str(getattr(app.conf, f)) for f in COMPONENT_FIELDS},
        "runner": args.runner,
        "runner_hosts": "1 in-process" if in_process else f"{len(hosts)} processes",
        "max_threads": ConfigThreadRunner(sources=app.config_sources).effective_max_threads(),
        "runs": args.runs,
        "purged_between_runs": not args.keep_data,
        "timeout_seconds": args.timeout,
    }


_SECRET_KEY_WORDS = ("password", "secret", "token", "credential", "key_id", "access_key")
_URL_CREDENTIALS = re.compile(r"(://[^/:@]*:)[^/@]*@")


def redacted(values: Mapping[str, Any]) -> dict[str, Any]:
    """Config values safe to print: secret-looking keys and URL passwords masked."""
    safe: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            safe[key] = redacted(value)
        elif any(word in key.lower() for word in _SECRET_KEY_WORDS):
            safe[key] = "***"
        elif isinstance(value, str):
            safe[key] = _URL_CREDENTIALS.sub(r"\1***@", value)
        else:
            safe[key] = value
    return safe


def remove_session_database(app: Pynenc) -> None:
    """Delete the SQLite file that the session's fresh app id gave it at the default location
    (``<data dir>/pynenc/pynenc-bench-<random>.db``): its rows are purged by then, and such
    files would only pile up. A file named in the config (``sqlite_db_path``) is left alone."""
    from pynenc.orchestrator.sqlite_orchestrator import SQLiteOrchestrator
    from pynenc.util.sqlite import default_db_path

    orchestrator = app.orchestrator
    if not isinstance(orchestrator, SQLiteOrchestrator):
        return
    path = orchestrator.db.path
    if not app.app_id.startswith("pynenc-bench-") or path != default_db_path(app.app_id):
        return
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        config = build_config(args)
    except BenchConfigError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    # Before anything imports bench_tasks, whose app reads this variable at import.
    os.environ[ENV_VAR] = config.to_env()

    from pynenc.exceptions import PynencError

    try:
        import bench_tasks
        from bench_workloads import WORKLOADS

        from pynenc.plugins.registry import get_registry

        names = selected_workloads(args.workload, args.long)
        app = bench_tasks.app
        runner_cls: type[BaseRunner] = get_registry().resolve("runner", args.runner, "--runner")
        log_dir = Path(tempfile.mkdtemp(prefix="pynenc-bench-"))
        hosts = make_hosts(app, runner_cls, args, log_dir)
    except (PynencError, BenchConfigError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    exit_code = 0
    report = Report(describe(app, args, hosts))
    session = Session(app, hosts, args)
    where = "" if report.meta["runner_hosts"].endswith("in-process") else f", logs in {log_dir}"
    progress(f"bench: {report.meta['runner']} x {report.meta['runner_hosts']}{where}")
    try:
        start_all(hosts, args.startup_timeout)
        report.idle_memory = session.memory()
        for name in names:
            report.workloads.append(session.run_workload(WORKLOADS[name]))
        if args.long:
            report.long_run = session.run_long(args.long)
        report.final_memory = session.memory()
    except (HostError, RunHung) as exc:
        report.errors.append(str(exc))
        report.final_memory = report.final_memory or session.memory()
    except (KeyboardInterrupt, SystemExit) as exc:
        exit_code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
        report.errors.append("interrupted: the figures above are partial")
        report.final_memory = report.final_memory or session.memory()
    except Exception as exc:
        report.errors.append(f"{type(exc).__name__}: {exc}")
        report.final_memory = report.final_memory or session.memory()
    finally:
        report.errors.extend(stop_all(hosts, args.stop_timeout))
        try:
            app.purge()
            remove_session_database(app)
        except Exception as exc:
            report.errors.append(f"could not purge the bench data of {app.app_id}: {exc}")

    if report.failed and any(log_dir.iterdir()):
        report.errors.append(f"worker logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        progress(f"bench: figures written to {args.json}")
    return exit_code or (1 if report.failed else 0)


if __name__ == "__main__":
    sys.exit(main())
