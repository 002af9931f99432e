"""The conformance suite: the contracts every pynenc backend must meet, as pytest test classes.

A backend's test module is a few lines::

    import pytest
    from pynenc.testing import *  # noqa: F403

    @pytest.fixture
    def pynenc_conformance_config():
        return {"orchestrator_cls": "MyOrchestrator", "broker_cls": "MyBroker", ...}

The star import brings one collected test class per contract (``TestOrchestratorContract``,
``TestBrokerContract``, ...). Optional fixtures: ``pynenc_capabilities`` (a
:class:`Capabilities`; undeclared flags are detected) and ``pynenc_backdoor`` (a
:class:`Backdoor` reading the store directly). To run some contracts only, or to add tests,
subclass the mixins (``OrchestratorContract``, ...) instead. ``pynenc conformance`` runs the same
suite from the command line (:func:`pynenc.testing.runner.run_conformance`).

This package needs the ``testing`` extra (pytest, hypothesis); pytest never loads it by itself.
The contracts are imported on first use, so that pytest can rewrite their assertions into
informative messages even when this package was imported before the test session started.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pytest

CONTRACT_MODULES = "pynenc.testing.contracts"

pytest.register_assert_rewrite(CONTRACT_MODULES)

if TYPE_CHECKING:
    from pynenc.testing.backdoor import Backdoor
    from pynenc.testing.capabilities import Capabilities, ConformanceConfig
    from pynenc.testing.contracts.broker import BrokerContract
    from pynenc.testing.contracts.client_data_store import ClientDataStoreContract
    from pynenc.testing.contracts.end_to_end import EndToEndScenarios
    from pynenc.testing.contracts.orchestration import OrchestrationScenarios
    from pynenc.testing.contracts.orchestrator import OrchestratorContract
    from pynenc.testing.contracts.recovery import RecoveryScenarios
    from pynenc.testing.contracts.serializer import SerializerContract
    from pynenc.testing.contracts.state_backend import StateBackendContract
    from pynenc.testing.contracts.trigger import TriggerBehaviourScenarios, TriggerContract
    from pynenc.testing.contracts.workflow import WorkflowContract
    from pynenc.testing.harness import ConformanceHarness, ConformanceTests
    from pynenc.testing.suite import (
        TestBrokerContract,
        TestClientDataStoreContract,
        TestEndToEndScenarios,
        TestOrchestrationScenarios,
        TestOrchestratorContract,
        TestRecoveryScenarios,
        TestSerializerContract,
        TestStateBackendContract,
        TestTriggerContract,
        TestWorkflowContract,
    )

_EXPORTS: dict[str, str] = {
    "Backdoor": "pynenc.testing.backdoor",
    "Capabilities": "pynenc.testing.capabilities",
    "ConformanceConfig": "pynenc.testing.capabilities",
    "ConformanceHarness": "pynenc.testing.harness",
    "ConformanceTests": "pynenc.testing.harness",
    "BrokerContract": f"{CONTRACT_MODULES}.broker",
    "ClientDataStoreContract": f"{CONTRACT_MODULES}.client_data_store",
    "EndToEndScenarios": f"{CONTRACT_MODULES}.end_to_end",
    "OrchestrationScenarios": f"{CONTRACT_MODULES}.orchestration",
    "OrchestratorContract": f"{CONTRACT_MODULES}.orchestrator",
    "RecoveryScenarios": f"{CONTRACT_MODULES}.recovery",
    "SerializerContract": f"{CONTRACT_MODULES}.serializer",
    "StateBackendContract": f"{CONTRACT_MODULES}.state_backend",
    "TriggerContract": f"{CONTRACT_MODULES}.trigger",
    "TriggerBehaviourScenarios": f"{CONTRACT_MODULES}.trigger",
    "WorkflowContract": f"{CONTRACT_MODULES}.workflow",
    "TestBrokerContract": "pynenc.testing.suite",
    "TestClientDataStoreContract": "pynenc.testing.suite",
    "TestEndToEndScenarios": "pynenc.testing.suite",
    "TestOrchestrationScenarios": "pynenc.testing.suite",
    "TestOrchestratorContract": "pynenc.testing.suite",
    "TestRecoveryScenarios": "pynenc.testing.suite",
    "TestSerializerContract": "pynenc.testing.suite",
    "TestStateBackendContract": "pynenc.testing.suite",
    "TestTriggerContract": "pynenc.testing.suite",
    "TestWorkflowContract": "pynenc.testing.suite",
}

__all__ = [
    "Backdoor",
    "BrokerContract",
    "Capabilities",
    "ClientDataStoreContract",
    "ConformanceConfig",
    "ConformanceHarness",
    "ConformanceTests",
    "EndToEndScenarios",
    "OrchestrationScenarios",
    "OrchestratorContract",
    "RecoveryScenarios",
    "SerializerContract",
    "StateBackendContract",
    "TestBrokerContract",
    "TestClientDataStoreContract",
    "TestEndToEndScenarios",
    "TestOrchestrationScenarios",
    "TestOrchestratorContract",
    "TestRecoveryScenarios",
    "TestSerializerContract",
    "TestStateBackendContract",
    "TestTriggerContract",
    "TestWorkflowContract",
    "TriggerBehaviourScenarios",
    "TriggerContract",
    "WorkflowContract",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pynenc.testing' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
