"""The suite fails a backend that breaks a rule, in the right contract, naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pynenc.testing.runner import run_conformance

pytestmark = pytest.mark.usefixtures("importable_broken_backends")


def test_a_broker_that_loses_invocations_fails_the_broker_contract(
    mem_stack: dict[str, str],
) -> None:
    report = run_conformance(
        config_values={**mem_stack, "broker_cls": "broken_backends:LossyBroker"},
        contracts=["orchestrator", "broker"],
    )

    assert not report.ok
    broker = report.result("broker")
    assert broker.failed > 0
    messages = [message for _, message in broker.failures]
    assert any("every routed invocation is delivered exactly once" in m for m in messages), messages
    assert report.result("orchestrator").ok, report.result("orchestrator").failures


def test_an_orchestrator_without_compare_and_set_fails_the_race_for_a_claim(
    mem_stack: dict[str, str],
) -> None:
    report = run_conformance(
        config_values={**mem_stack, "orchestrator_cls": "broken_backends:NonAtomicOrchestrator"},
        contracts=["orchestrator", "broker"],
    )

    assert not report.ok
    orchestrator = report.result("orchestrator")
    assert [test for test, _ in orchestrator.failures] == [
        "TestOrchestratorContract::test_exactly_one_runner_may_claim_an_invocation"
    ]
    (message,) = [message for _, message in orchestrator.failures]
    assert "exactly one runner may claim an invocation" in message
    assert report.result("broker").ok


def test_components_chosen_in_a_config_file_are_the_ones_tested(
    tmp_path: Path, mem_stack: dict[str, str]
) -> None:
    config_file = tmp_path / "pynenc.toml"
    chosen = {**mem_stack, "broker_cls": "broken_backends:LossyBroker"}
    config_file.write_text("".join(f'{field} = "{name}"\n' for field, name in chosen.items()))

    report = run_conformance(config_filepath=str(config_file), contracts=["broker"])

    assert not report.result("broker").ok
