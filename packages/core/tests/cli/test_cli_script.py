"""The installed ``pynenc`` script, run as a user runs it: in its own process."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import SAMPLE_DIR, mem_stack_toml

SCRIPT = shutil.which("pynenc", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(
    SCRIPT is None, reason="the pynenc script is not installed next to this Python"
)

COMMANDS = [
    [],
    ["runner"],
    ["runner", "start"],
    ["show_config"],
    ["status"],
    ["status", "render"],
    ["purge"],
    ["invocation"],
    ["invocation", "show"],
    ["conformance"],
    ["version"],
]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("PYNENC")}


def _pynenc(
    *argv: str, timeout: float = 30, cwd: Path = SAMPLE_DIR
) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None
    return subprocess.run(
        [SCRIPT, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=_environment(),
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "pynenc")
def test_every_command_has_help(command: list[str]) -> None:
    done = _pynenc(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: pynenc {' '.join(command)}".rstrip())
    assert done.stderr == ""


def test_a_bad_app_exits_2_naming_what_was_tried() -> None:
    done = _pynenc("--app", "cli_sample_app:nope", "show_config")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("pynenc: error: Cannot load the app 'cli_sample_app:nope'.")
    assert "module 'cli_sample_app' has no attribute 'nope'; its Pynenc instances: app" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


@contextmanager
def started(*argv: str) -> Iterator[subprocess.Popen[str]]:
    """``pynenc ARGV`` running in the background; killed at the end if still running."""
    assert SCRIPT is not None
    process = subprocess.Popen(
        [SCRIPT, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=SAMPLE_DIR,
        env=_environment(),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _wait_for_line(process: subprocess.Popen[str], fragment: str, timeout: float) -> list[str]:
    """Read stderr lines until one holds ``fragment``; the lines read so far."""
    assert process.stderr is not None
    stream = process.stderr
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in stream:
            lines.append(line)
            if fragment in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no line with {fragment!r}; exit {process.poll()}; stderr: {lines}")
    return lines


def test_sigterm_stops_a_started_runner_with_status_0() -> None:
    with started("--app", "cli_sample_app", "runner", "start", "--max-threads", "2") as runner:
        _wait_for_line(runner, "started with 2 slots", timeout=30)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 0


def test_a_started_runner_runs_tasks_called_from_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite is shared by processes: this process calls, a ``pynenc`` process runs, and
    another shows the invocation from the configuration alone (no --app)."""
    config = tmp_path / "shared.toml"
    config.write_text(
        mem_stack_toml(
            orchestrator_cls="SQLiteOrchestrator",
            broker_cls="SQLiteBroker",
            state_backend_cls="SQLiteStateBackend",
            trigger_cls="SQLiteTrigger",
            client_data_store_cls="SQLiteClientDataStore",
            sqlite_db_path=str(tmp_path / "shared.db"),
            app_id="cli-shared",
        )
    )
    monkeypatch.setenv("PYNENC__FILEPATH", str(config))
    monkeypatch.syspath_prepend(str(SAMPLE_DIR))
    shared = importlib.import_module("cli_sample_shared_app")
    argv = ["--app", "cli_sample_shared_app", "--config", str(config)]
    with started(*argv, "runner", "start", "--max-threads", "2") as runner:
        _wait_for_line(runner, "started with 2 slots", timeout=30)
        invocation = shared.multiply(6, 7)
        assert invocation.wait(timeout=30) == 42
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 0
    shown = _pynenc("--config", str(config), "invocation", "show", invocation.invocation_id[:8])
    assert shown.returncode == 0, shown.stderr
    assert "Task        cli_sample_shared_app.multiply" in shown.stdout
    assert "Result      42" in shown.stdout


def test_conformance_runs_the_real_suite_against_a_config(tmp_path: Path) -> None:
    config = tmp_path / "mem.toml"
    config.write_text(mem_stack_toml())
    done = _pynenc(
        "conformance", "--config", str(config), "--contract", "broker", timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 1
    assert verdicts[0].startswith("PASS  broker  passed ")
