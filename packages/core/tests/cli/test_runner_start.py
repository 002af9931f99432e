"""``pynenc runner start``: the runner the options select, run until stopped."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pynenc import Pynenc
from pynenc.cli.commands.runner import runner_overrides
from pynenc.cli.main import main
from pynenc.conf.config_base import ConfigField
from pynenc.conf.config_runner import ConfigRunner
from pynenc.exceptions import CliError
from pynenc.runner.base_runner import BaseRunner
from pynenc.runner.thread_runner import ThreadRunner

from .conftest import MEM_STACK_TOML, CliRun, wait_for

Cli = Callable[..., CliRun]


def _serving(app: Pynenc) -> bool:
    """Whether the app's runner is a started worker (not the client-side default)."""
    runner = app.runner
    return isinstance(runner, ThreadRunner) and runner.running


class CliThread:
    """``main(argv)`` running in a background thread, as ``pynenc runner start`` would."""

    def __init__(self, argv: list[str]) -> None:
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)

    def _run(self, argv: list[str]) -> None:
        self.code = main(argv)

    def join(self, timeout: float = 15) -> int | None:
        self.thread.join(timeout)
        return self.code


@contextmanager
def runner_started(sample: ModuleType, *options: str) -> Iterator[BaseRunner]:
    """Start ``pynenc --app cli_sample_app runner start OPTIONS`` in a thread; yield its runner
    once it runs; stop it on exit and check the command ended with status 0."""
    started = CliThread(["--app", "cli_sample_app", "runner", "start", *options])
    started.thread.start()
    app = sample.app
    wait_for(lambda: _serving(app) or started.code is not None)
    assert started.code is None, f"runner start ended early with status {started.code}"
    runner = app.runner
    try:
        yield runner
    finally:
        runner.stop_runner_loop()
        assert started.join() == 0


def test_runner_start_runs_tasks_until_stopped(sample: ModuleType) -> None:
    with runner_started(sample) as runner:
        assert type(runner) is ThreadRunner
        assert sample.add(2, 3).wait(timeout=10) == 5
    assert not runner.running


def test_max_threads_overrides_the_configuration(
    sample: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runner_started(sample, "--max-threads", "3") as runner:
        assert runner.max_parallel_slots == 3
        assert runner.conf.source_of("max_threads").kind == "config_values"


def test_options_set_any_field_of_the_runner_config(sample: ModuleType) -> None:
    with runner_started(
        sample, "--option", "graceful_shutdown_timeout_seconds=1.5", "-o", "max-threads=2"
    ) as runner:
        assert runner.conf.graceful_shutdown_timeout_seconds == 1.5
        assert runner.max_parallel_slots == 2


def test_the_runner_class_option_selects_a_runner_by_import_path(sample: ModuleType) -> None:
    with runner_started(
        sample,
        "--runner-class",
        "cli_sample_components:LabelledRunner",
        "--option",
        "runner_label=blue",
    ) as runner:
        assert type(runner).__name__ == "LabelledRunner"
        assert runner.conf.runner_label == "blue"  # type: ignore[attr-defined]
        assert sample.echo("hi").wait(timeout=10) == "hi"


def test_a_field_the_runner_config_lacks_is_a_usage_error(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "runner", "start", "--option", "processes=2")
    assert run.code == 2
    assert "ThreadRunner has no config field 'processes'" in run.err
    assert "max_threads" in run.err


def test_processes_do_not_apply_to_a_thread_runner(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "runner", "start", "--processes", "2")
    assert run.code == 2
    assert "--processes does not apply to ThreadRunner" in run.err


def test_an_invalid_value_is_a_usage_error_naming_the_option(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "runner", "start", "--max-threads", "-1")
    assert run.code == 2
    assert "Invalid runner option max_threads=-1: expected an integer >= 0" in run.err


def test_an_option_without_a_value_is_a_usage_error(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "runner", "start", "--option", "max_threads")
    assert run.code == 2
    assert "is not KEY=VALUE" in run.err


def test_an_unknown_runner_class_lists_the_known_ones(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "runner", "start", "--runner-class", "NoRunner")
    assert run.code == 2
    assert "Unknown runner_cls 'NoRunner'. Known:" in run.err
    assert "ThreadRunner" in run.err


class _ConfigPool(ConfigRunner):
    num_processes = ConfigField(0)


class _PoolRunner(ThreadRunner):
    config_cls = _ConfigPool  # type: ignore[assignment]


def test_processes_set_the_process_count_field_of_the_runner_config() -> None:
    assert runner_overrides(_PoolRunner, [], processes=4) == {"num_processes": 4}


def test_flags_win_over_generic_options() -> None:
    overrides = runner_overrides(ThreadRunner, ["max_threads=9"], max_threads=2)
    assert overrides == {"max_threads": 2}


def test_an_unknown_generic_option_is_refused() -> None:
    with pytest.raises(CliError, match="has no config field 'nope'"):
        runner_overrides(ThreadRunner, ["nope=1"])


def test_sigterm_stops_the_runner_cleanly_with_status_0(sample: ModuleType) -> None:
    """In the main thread, as the ``pynenc`` script runs: the runner's own handler stops it."""
    outcome: dict[str, Any] = {}

    def stop_with_sigterm() -> None:
        app = sample.app
        wait_for(lambda: _serving(app))
        runner = app.runner
        outcome["result"] = sample.add(20, 22).wait(timeout=10)
        if signal.getsignal(signal.SIGTERM) != runner.stop_runner_loop:
            outcome["handler"] = "not installed"
            runner.stop_runner_loop()
            return
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    previous_handler = signal.getsignal(signal.SIGTERM)
    helper = threading.Thread(target=stop_with_sigterm, daemon=True)
    helper.start()
    code = main(["--app", "cli_sample_app", "runner", "start", "--max-threads", "2"])
    helper.join(15)
    assert outcome == {"result": 42}
    assert code == 0
    assert signal.getsignal(signal.SIGTERM) == previous_handler


def test_runner_start_without_app_builds_one_from_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pynenc.toml").write_text(MEM_STACK_TOML + "app_id = 'config-only'\n")
    started = CliThread(["runner", "start", "--max-threads", "1"])
    captured: list[BaseRunner] = []
    original_run = ThreadRunner.run

    def capture(self: ThreadRunner) -> None:
        captured.append(self)
        original_run(self)

    monkeypatch.setattr(ThreadRunner, "run", capture)
    started.thread.start()
    wait_for(lambda: bool(captured) and captured[0].running)
    runner = captured[0]
    assert runner.app.app_id == "config-only"
    runner.stop_runner_loop()
    assert started.join() == 0
