"""``pynenc purge``: deletes the app's data, after confirmation unless --yes."""

from __future__ import annotations

import io
from collections.abc import Callable
from types import ModuleType

import pytest

from .conftest import CliRun

Cli = Callable[..., CliRun]


def _stored_ids(sample: ModuleType, invocation_id: str) -> list[str]:
    return [str(i) for i in sample.app.state_backend.find_invocation_ids_by_prefix(invocation_id)]


def test_purge_with_yes_deletes_the_app_data(sample: ModuleType, cli: Cli) -> None:
    invocation_id = str(sample.add(1, 2).invocation_id)
    run = cli("--app", "cli_sample_app", "purge", "--yes")
    assert run.code == 0
    assert "Purged every component of app 'cli-sample'" in run.out
    assert _stored_ids(sample, invocation_id) == []
    assert sample.app.broker.count_invocations() == 0
    assert sample.app.orchestrator.count_invocations() == {}


def test_purge_asks_first_and_purges_on_yes(
    sample: ModuleType, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    invocation_id = str(sample.add(1, 2).invocation_id)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    run = cli("--app", "cli_sample_app", "purge")
    assert run.code == 0
    assert "Delete everything stored for app 'cli-sample' in MemOrchestrator" in run.out
    assert _stored_ids(sample, invocation_id) == []


@pytest.mark.parametrize("stdin", ["n\n", "\n", ""], ids=["no", "empty answer", "no input"])
def test_purge_keeps_everything_unless_confirmed(
    sample: ModuleType, cli: Cli, monkeypatch: pytest.MonkeyPatch, stdin: str
) -> None:
    invocation_id = str(sample.add(1, 2).invocation_id)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    run = cli("--app", "cli_sample_app", "purge")
    assert run.code == 1
    assert "Nothing was purged." in run.err
    assert _stored_ids(sample, invocation_id) == [invocation_id]
