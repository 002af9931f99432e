"""run_conformance: selecting contracts, capabilities, and the report it returns."""

from __future__ import annotations

import importlib.metadata

import pytest

from pynenc.exceptions import UnknownContractError
from pynenc.testing import Capabilities
from pynenc.testing.runner import (
    CONTRACT_NAMES,
    ConformanceReport,
    ContractResult,
    run_conformance,
)


def test_the_memory_stack_passes_every_contract_when_run_programmatically(
    mem_stack: dict[str, str],
) -> None:
    report = run_conformance(config_values=mem_stack)

    assert report.ok, report.format()
    assert [contract.name for contract in report.contracts] == list(CONTRACT_NAMES)
    assert all(contract.passed > 0 for contract in report.contracts)
    verdicts = [line.split()[:2] for line in report.format().splitlines() if line[:4].isupper()]
    assert verdicts == [["PASS", name] for name in CONTRACT_NAMES]


def test_only_the_selected_contracts_run(mem_stack: dict[str, str]) -> None:
    report = run_conformance(config_values=mem_stack, contracts=["serializer", "trigger"])
    assert [contract.name for contract in report.contracts] == ["trigger", "serializer"]
    assert report.ok


def test_unknown_contract_names_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownContractError, match="state_backend") as refused:
        run_conformance(contracts=["broker", "brokers"])
    assert isinstance(refused.value, ValueError)
    assert "'brokers'" in str(refused.value)


def test_a_capability_declared_missing_skips_its_tests_naming_the_flag(
    mem_stack: dict[str, str],
) -> None:
    report = run_conformance(
        config_values=mem_stack,
        contracts=["trigger"],
        capabilities=Capabilities(concurrent_access=False),
    )
    trigger = report.result("trigger")
    assert trigger.ok and trigger.skipped == 5, "five racing trigger tests need concurrent_access"
    assert all("concurrent_access" in reason for _, reason in trigger.skip_reasons)


def test_a_run_pytest_cannot_start_is_not_ok(mem_stack: dict[str, str]) -> None:
    report = run_conformance(
        config_values=mem_stack, contracts=["trigger"], extra_pytest_args=["--no-such-option"]
    )
    assert not report.ok
    assert any("USAGE_ERROR" in error for error in report.errors)


def test_the_report_has_one_verdict_line_per_contract_with_failures_below() -> None:
    report = ConformanceReport(
        [
            ContractResult("orchestrator", passed=3),
            ContractResult(
                "broker",
                passed=1,
                failed=1,
                failures=[("TestBrokerContract::test_x", "AssertionError: lost\nassert 1 == 2")],
            ),
        ]
    )
    assert not report.ok
    assert report.format().splitlines() == [
        "PASS  orchestrator  3 passed, 0 failed, 0 skipped",
        "FAIL  broker        1 passed, 1 failed, 0 skipped",
        "        TestBrokerContract::test_x: AssertionError: lost",
        "1 of 2 contracts pass.",
    ]


def test_pynenc_testing_is_never_loaded_by_pytest_on_its_own() -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert not [ep.value for ep in plugins if ep.value.startswith("pynenc")]
