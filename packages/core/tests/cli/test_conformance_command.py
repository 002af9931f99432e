"""``pynenc conformance``: what it asks the suite to test, and the report it prints.

The suite itself is replaced by a fake ``run_conformance`` with the documented signature, so
these tests check the command alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import MEM_STACK_TOML, CliRun, mem_stack_toml

Cli = Callable[..., CliRun]


@dataclass
class ContractResult:
    name: str
    passed: int
    failed: int
    skipped: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    skip_reasons: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ConformanceReport:
    contracts: list[ContractResult]
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(contract.failed == 0 for contract in self.contracts)


class FakeSuite:
    """Records each call and answers with a prepared report."""

    def __init__(self, report: ConformanceReport) -> None:
        self.report = report
        self.calls: list[dict[str, Any]] = []

    def run_conformance(
        self,
        *,
        config_values: dict[str, Any] | None = None,
        config_filepath: str | None = None,
        contracts: Sequence[str] | None = None,
        capabilities: Any = None,
        extra_pytest_args: Sequence[str] = (),
    ) -> ConformanceReport:
        self.calls.append(
            {
                "config_values": config_values,
                "config_filepath": config_filepath,
                "contracts": contracts,
                "extra_pytest_args": tuple(extra_pytest_args),
            }
        )
        return self.report


PASSING = ConformanceReport(
    [ContractResult("broker", 12, 0, 1), ContractResult("orchestrator", 30, 0, 0)]
)
FAILING = ConformanceReport(
    [
        ContractResult(
            "broker",
            11,
            1,
            1,
            [("test_fifo_order", "assert [2, 1] == [1, 2]")],
            [("test_priorities", "needs the priorities capability")],
        ),
        ContractResult("orchestrator", 30, 0, 0),
    ]
)


def install(monkeypatch: pytest.MonkeyPatch, report: ConformanceReport) -> FakeSuite:
    suite = FakeSuite(report)
    module = ModuleType("pynenc.testing.runner")
    module.run_conformance = suite.run_conformance  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynenc.testing.runner", module)
    return suite


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "backend.toml"
    path.write_text(MEM_STACK_TOML)
    return path


def test_the_config_file_is_handed_to_the_suite(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = install(monkeypatch, PASSING)
    run = cli("conformance", "--config", str(config_file))
    assert run.code == 0
    assert suite.calls == [
        {
            "config_values": None,
            "config_filepath": str(config_file),
            "contracts": None,
            "extra_pytest_args": (),
        }
    ]


def test_a_config_given_before_the_command_works_too(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = install(monkeypatch, PASSING)
    assert cli("--config", str(config_file), "conformance").code == 0
    assert suite.calls[0]["config_filepath"] == str(config_file)


def test_an_app_hands_its_component_choices_to_the_suite(
    samples: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = install(monkeypatch, PASSING)
    assert cli("conformance", "--app", "cli_sample_app").code == 0
    values = suite.calls[0]["config_values"]
    assert values["app_id"] == "cli-sample"
    assert values["broker_cls"] == "MemBroker"
    assert values["serializer_cls"] == "JsonSerializer"


def test_contracts_and_pytest_arguments_are_passed_on(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = install(monkeypatch, PASSING)
    run = cli(
        "--config",
        str(config_file),
        "conformance",
        "--contract",
        "broker",
        "orchestrator",
        "--contract",
        "trigger",
        "--pytest-arg=-x",
    )
    assert run.code == 0
    assert suite.calls[0]["contracts"] == ["broker", "orchestrator", "trigger"]
    assert suite.calls[0]["extra_pytest_args"] == ("-x",)


def test_one_line_per_contract_and_status_0_when_all_pass(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, PASSING)
    run = cli("--config", str(config_file), "conformance")
    lines = run.out.splitlines()
    assert lines[0].startswith("Conformance of orchestrator=MemOrchestrator, broker=MemBroker")
    assert lines[1:] == [
        "PASS  broker        passed 12, failed 0, skipped 1",
        "PASS  orchestrator  passed 30, failed 0, skipped 0",
        "2 of 2 contracts pass.",
    ]


def test_a_failing_contract_names_its_failures_and_exits_1(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, FAILING)
    run = cli("--config", str(config_file), "conformance")
    assert run.code == 1
    assert run.out.splitlines()[1:] == [
        "FAIL  broker        passed 11, failed 1, skipped 1",
        "      test_fifo_order",
        "PASS  orchestrator  passed 30, failed 0, skipped 0",
        "1 of 2 contracts pass.",
    ]


def test_verbose_prints_the_failure_messages(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, FAILING)
    run = cli("--config", str(config_file), "conformance", "-v")
    assert "      test_fifo_order\n          assert [2, 1] == [1, 2]\n" in run.out
    assert "      skipped test_priorities: needs the priorities capability\n" in run.out


def test_errors_outside_the_contracts_fail_the_run(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, ConformanceReport(PASSING.contracts, ["collection failed: boom"]))
    run = cli("--config", str(config_file), "conformance")
    assert run.code == 1
    assert "ERROR  collection failed: boom" in run.out


def test_an_unknown_contract_name_is_a_usage_error(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynenc.exceptions import UnknownContractError

    def refuse(**options: Any) -> ConformanceReport:
        raise UnknownContractError(["nope"], ["broker"])

    module = ModuleType("pynenc.testing.runner")
    module.run_conformance = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynenc.testing.runner", module)
    run = cli("--config", str(config_file), "conformance", "--contract", "nope")
    assert run.code == 2
    assert "Unknown conformance contract(s) 'nope'" in run.err


def test_a_custom_class_by_import_path_is_resolved_before_the_suite_runs(
    samples: Path, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = install(monkeypatch, PASSING)
    config = tmp_path / "custom.toml"
    config.write_text(mem_stack_toml(broker_cls="cli_sample_components:SecretBroker"))
    run = cli("conformance", "--config", str(config))
    assert run.code == 0
    assert "broker=cli_sample_components:SecretBroker" in run.out
    assert len(suite.calls) == 1


def test_an_unknown_component_class_is_a_usage_error_and_runs_nothing(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    suite = install(monkeypatch, PASSING)
    config = tmp_path / "bad.toml"
    config.write_text(mem_stack_toml(broker_cls="nowhere_module:Broker"))
    run = cli("conformance", "--config", str(config))
    assert run.code == 2
    assert "Unknown broker_cls 'nowhere_module:Broker'" in run.err
    assert suite.calls == []


def test_no_contract_run_is_a_failure(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, ConformanceReport([]))
    run = cli("--config", str(config_file), "conformance", "--contract", "nothing")
    assert run.code == 1
    assert "No contract ran" in run.err


def test_without_the_suite_it_says_to_install_the_testing_extra(
    config_file: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pynenc.testing.runner", None)
    run = cli("--config", str(config_file), "conformance")
    assert run.code == 1
    assert "pip install 'pynenc-core[testing]'" in run.err
