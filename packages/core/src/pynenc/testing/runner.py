"""Run the conformance suite programmatically (``pynenc conformance`` builds on this).

:func:`run_conformance` runs the suite in this process through ``pytest.main``, isolated from
the current project's pytest configuration, with a small plugin that provides the suite's
config fixture from the arguments and tallies the outcome of every test per contract.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pynenc.exceptions import UnknownContractError
from pynenc.testing import CONTRACT_MODULES
from pynenc.testing.capabilities import Capabilities, ConformanceConfig
from pynenc.testing.harness import CAPABILITIES_FIXTURE, CONFIG_FIXTURE

__all__ = [
    "CONTRACT_NAMES",
    "ConformancePlugin",
    "ConformanceReport",
    "ContractResult",
    "run_conformance",
]

CONTRACT_NAMES: tuple[str, ...] = (
    "orchestrator",
    "broker",
    "state_backend",
    "trigger",
    "client_data_store",
    "serializer",
    "end_to_end",
    "orchestration",
    "workflow",
    "recovery",
)
"""Every contract, in report order (the ``contract`` of each class in
:data:`pynenc.testing.suite.CONTRACTS`); the contracts themselves are imported only inside the
test session, where pytest rewrites their assertions."""

TEST_TIMEOUT_SECONDS = 300
"""Per-test limit when pytest-timeout is installed: a deadlocked backend fails, not hangs."""


@dataclass
class ContractResult:
    """How one contract fared: counts, and ``(test id, message)`` of each failed test."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skip_reasons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass
class ConformanceReport:
    """The result of a run; ``errors`` holds problems outside any test (collection, pytest)."""

    contracts: list[ContractResult]
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(contract.ok for contract in self.contracts)

    def result(self, name: str) -> ContractResult:
        for contract in self.contracts:
            if contract.name == name:
                return contract
        raise KeyError(f"contract '{name}' did not run; it ran {[c.name for c in self.contracts]}")

    def format(self) -> str:
        """One verdict line per contract (PASS, FAIL, or SKIP when no test of it passed nor
        failed), each failure and skip reason indented below it."""
        width = max((len(c.name) for c in self.contracts), default=0)
        lines = []
        for contract in self.contracts:
            verdict = "FAIL" if contract.failed else "PASS" if contract.passed else "SKIP"
            lines.append(
                f"{verdict}  {contract.name.ljust(width)}  {contract.passed} passed, "
                f"{contract.failed} failed, {contract.skipped} skipped"
            )
            for test, message in contract.failures:
                first_line = message.splitlines()[0] if message else ""
                lines.append(f"        {test}: {first_line}")
            reasons = Counter(reason for _, reason in contract.skip_reasons)
            for reason, count in sorted(reasons.items()):
                lines.append(f"        skipped {count}: {reason}")
        lines.extend(f"ERROR  {error}" for error in self.errors)
        passing = sum(contract.ok and contract.passed > 0 for contract in self.contracts)
        lines.append(f"{passing} of {len(self.contracts)} contracts pass.")
        return "\n".join(lines)


def run_conformance(
    *,
    config_values: dict[str, Any] | None = None,
    config_filepath: str | None = None,
    contracts: Sequence[str] | None = None,
    capabilities: Capabilities | None = None,
    extra_pytest_args: Sequence[str] = (),
) -> ConformanceReport:
    """Run the selected contracts (default: all) against the components ``config_values`` and
    ``config_filepath`` select, in this process; undeclared capabilities are detected."""
    selected = _select(contracts)
    plugin = ConformancePlugin(
        ConformanceConfig(dict(config_values or {}), config_filepath), capabilities, selected
    )
    with tempfile.TemporaryDirectory(prefix="pynenc-conformance-") as directory:
        root = Path(directory)
        module_name = f"test_pynenc_conformance_{uuid.uuid4().hex[:12]}"
        test_file = root / f"{module_name}.py"
        test_file.write_text("from pynenc.testing import *  # noqa: F403\n")
        ini_file = root / "pytest.ini"
        ini_file.write_text(_ini_text())
        args = [
            "-c",
            str(ini_file),
            "--rootdir",
            str(root),
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            *extra_pytest_args,
            str(test_file),
        ]
        try:
            exit_code = pytest.main(args, plugins=[plugin])
        finally:
            sys.modules.pop(module_name, None)
    return plugin.report(int(exit_code))


def _select(contracts: Sequence[str] | None) -> list[str]:
    if contracts is None:
        return list(CONTRACT_NAMES)
    unknown = [name for name in contracts if name not in CONTRACT_NAMES]
    if unknown:
        raise UnknownContractError(unknown, CONTRACT_NAMES)
    return [name for name in CONTRACT_NAMES if name in contracts]


def _ini_text() -> str:
    lines = ["[pytest]", "filterwarnings = ignore::pytest.PytestAssertRewriteWarning"]
    if importlib.util.find_spec("pytest_timeout") is not None:
        lines.append(f"timeout = {TEST_TIMEOUT_SECONDS}")
    return "\n".join(lines) + "\n"


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    if isinstance(longrepr, tuple):
        return str(longrepr[2])
    return str(longrepr).strip() if longrepr else ""


class ConformancePlugin:
    """Provides the suite's fixtures from :func:`run_conformance`'s arguments, keeps only the
    selected contracts' tests, and records each test's outcome under its contract."""

    def __init__(
        self,
        config: ConformanceConfig,
        capabilities: Capabilities | None,
        contracts: Sequence[str],
    ) -> None:
        self.config = config
        self.capabilities = capabilities
        self.contracts = list(contracts)
        self.errors: list[str] = []
        self._contract_of: dict[str, str] = {}
        self._outcomes: dict[str, tuple[str, str]] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        pytest.register_assert_rewrite(CONTRACT_MODULES)

    @pytest.fixture(name=CONFIG_FIXTURE)
    def config_fixture(self) -> ConformanceConfig:
        return self.config

    @pytest.fixture(name=CAPABILITIES_FIXTURE)
    def capabilities_fixture(self) -> Capabilities | None:
        return self.capabilities

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            contract = getattr(getattr(item, "cls", None), "contract", None)
            if contract in self.contracts:
                self._contract_of[item.nodeid] = contract
                kept.append(item)
            else:
                dropped.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self._contract_of:
            return
        previous = self._outcomes.get(report.nodeid, ("passed", ""))[0]
        if report.failed:
            if previous != "failed":
                prefix = "" if report.when == "call" else f"{report.when}: "
                self._outcomes[report.nodeid] = ("failed", prefix + _message(report))
        elif report.skipped and previous == "passed":
            self._outcomes[report.nodeid] = ("skipped", _message(report))
        elif report.when == "call" and report.nodeid not in self._outcomes:
            self._outcomes[report.nodeid] = ("passed", "")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"cannot collect {report.nodeid or 'the suite'}: {_message(report)}")

    def report(self, exit_code: int) -> ConformanceReport:
        results = {name: ContractResult(name) for name in self.contracts}
        for nodeid, (outcome, message) in self._outcomes.items():
            result = results[self._contract_of[nodeid]]
            test = nodeid.split("::", 1)[-1]
            if outcome == "failed":
                result.failed += 1
                result.failures.append((test, message))
            elif outcome == "skipped":
                result.skipped += 1
                result.skip_reasons.append((test, message.removeprefix("Skipped: ")))
            else:
                result.passed += 1
        errors = list(self.errors)
        if exit_code in (
            pytest.ExitCode.INTERRUPTED,
            pytest.ExitCode.INTERNAL_ERROR,
            pytest.ExitCode.USAGE_ERROR,
        ):
            name = pytest.ExitCode(exit_code).name
            errors.append(f"pytest stopped with exit code {exit_code} ({name})")
        if not self._outcomes and not errors:
            errors.append("no test ran")
        return ConformanceReport(list(results.values()), errors)
