"""``pynenc invocation show ID``: call, status, history with runners, and the outcome."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType

import pytest

from pynenc.call import Call
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.dist_invocation import DistributedInvocation

from .conftest import CliRun, running_runner

Cli = Callable[..., CliRun]


def _field(output: str, label: str) -> str:
    match = re.search(rf"^{label} +(.*)$", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return match.group(1)


def _history(output: str) -> list[str]:
    lines = output.splitlines()
    start = lines.index("History") + 1
    return [line for line in lines[start:] if line.startswith("  ")][: len(lines)]


def _finished_add(sample: ModuleType) -> str:
    with running_runner(sample.app):
        invocation = sample.add(2, 3)
        assert invocation.wait(timeout=10) == 5
    return str(invocation.invocation_id)


def test_a_finished_invocation_shows_task_status_and_result(sample: ModuleType, cli: Cli) -> None:
    invocation_id = _finished_add(sample)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id)
    assert run.code == 0
    assert _field(run.out, "Invocation") == invocation_id
    assert _field(run.out, "Task") == "cli_sample_app.add"
    assert _field(run.out, "Status").startswith("SUCCESS since ")
    assert _field(run.out, "Retries") == "0"
    assert _field(run.out, "Result") == "5"


def test_the_history_lists_every_status_with_the_runner_that_set_it(
    sample: ModuleType, cli: Cli
) -> None:
    invocation_id = _finished_add(sample)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id)
    history = [line for line in _history(run.out) if not line.startswith("   ")]
    statuses = [line.split()[2] for line in history]
    assert statuses == ["REGISTERED", "PENDING", "RUNNING", "SUCCESS"]
    registered, *worked = history
    assert "ExternalRunner" in registered
    for line in worked:
        assert re.search(r"ThreadRunner ThreadRunner-\w+ on \S+ pid \d+$", line), line


def test_an_id_prefix_finds_the_invocation(sample: ModuleType, cli: Cli) -> None:
    invocation_id = _finished_add(sample)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id[:7])
    assert run.code == 0
    assert _field(run.out, "Invocation") == invocation_id


def test_arguments_follow_the_app_printing_settings(sample: ModuleType, cli: Cli) -> None:
    invocation_id = str(sample.echo("a long text argument").invocation_id)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id)
    assert _field(run.out, "Arguments") == "hidden by print_arguments (--full-args shows them)"


def test_full_args_prints_every_argument_whole(sample: ModuleType, cli: Cli) -> None:
    invocation_id = str(sample.echo("a long text argument").invocation_id)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id, "--full-args")
    assert _field(run.out, "Arguments") == "text='a long text argument'"


def test_printed_arguments_are_truncated_as_configured(
    samples: object, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys

    monkeypatch.setenv("PYNENC__PRINT_ARGUMENTS", "true")
    monkeypatch.setenv("PYNENC__TRUNCATE_ARGUMENTS_LENGTH", "6")
    sys.path.insert(0, str(samples))
    sample = importlib.import_module("cli_sample_app")
    invocation_id = str(sample.echo("a long text argument").invocation_id)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id)
    assert _field(run.out, "Arguments") == "text='a lon..."


def test_a_pending_invocation_has_no_result_yet(sample: ModuleType, cli: Cli) -> None:
    invocation_id = str(sample.add(1, 1).invocation_id)
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id)
    assert _field(run.out, "Status").startswith("REGISTERED")
    assert _field(run.out, "Result") == "none yet: the invocation is not final"


def test_a_failed_invocation_shows_the_exception_and_the_runner_traceback(
    sample: ModuleType, cli: Cli
) -> None:
    with running_runner(sample.app):
        invocation = sample.explode("the fuse was short")
        with pytest.raises(ValueError):
            invocation.wait(timeout=10)
    run = cli("--app", "cli_sample_app", "invocation", "show", str(invocation.invocation_id))
    assert run.code == 0
    assert _field(run.out, "Status").startswith("FAILED")
    assert _field(run.out, "Exception") == "ValueError"
    assert _field(run.out, "Message") == "the fuse was short"
    traceback = run.out.split("Traceback (from the runner)\n", 1)[1]
    assert "in explode" in traceback
    assert "raise ValueError(message)" in traceback


def test_the_status_falls_back_to_the_history_when_the_orchestrator_forgot_it(
    sample: ModuleType, cli: Cli
) -> None:
    invocation_id = _finished_add(sample)
    sample.app.orchestrator.purge()
    run = cli("--app", "cli_sample_app", "invocation", "show", invocation_id)
    assert _field(run.out, "Status") == (
        "SUCCESS (from the history: the orchestrator no longer holds it)"
    )
    assert _field(run.out, "Result") == "5"


def test_an_unknown_id_fails_with_status_1(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "invocation", "show", "0123456789abcdef")
    assert run.code == 1
    assert "Invocation '0123456789abcdef' was not found in the state backend of app" in run.err


def test_a_prefix_shorter_than_4_characters_is_a_usage_error(sample: ModuleType, cli: Cli) -> None:
    run = cli("--app", "cli_sample_app", "invocation", "show", "abc")
    assert run.code == 2
    assert "at least 4 characters" in run.err


def test_an_ambiguous_prefix_lists_the_candidates(sample: ModuleType, cli: Cli) -> None:
    ids = [InvocationId("abcd" + "0" * 27 + str(n)) for n in (1, 2)]
    for invocation_id in ids:
        call = Call(sample.add, {"x": 1, "y": 2})
        sample.app.orchestrator.register_and_route([DistributedInvocation(call, invocation_id)])
    run = cli("--app", "cli_sample_app", "invocation", "show", "abcd")
    assert run.code == 1
    assert "The id prefix 'abcd' matches 2 invocations" in run.err
    for invocation_id in ids:
        assert f"{invocation_id} (cli_sample_app.add, REGISTERED)" in run.err


def test_a_prefix_matching_more_than_the_listed_candidates_says_so(
    sample: ModuleType, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pynenc.cli.commands.invocation.MAX_CANDIDATES", 1)
    for n in (1, 2):
        call = Call(sample.add, {"x": n, "y": 2})
        invocation_id = InvocationId("beef" + "0" * 27 + str(n))
        sample.app.orchestrator.register_and_route([DistributedInvocation(call, invocation_id)])
    run = cli("--app", "cli_sample_app", "invocation", "show", "beef")
    assert run.code == 1
    assert "The id prefix 'beef' matches more than 1 invocations: beef" in run.err
