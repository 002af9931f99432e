"""The collected test classes: one per contract, found by pytest wherever ``pynenc.testing`` is
star-imported into a test module."""

from pynenc.testing.contracts.broker import BrokerContract
from pynenc.testing.contracts.client_data_store import ClientDataStoreContract
from pynenc.testing.contracts.end_to_end import EndToEndScenarios
from pynenc.testing.contracts.orchestration import OrchestrationScenarios
from pynenc.testing.contracts.orchestrator import OrchestratorContract
from pynenc.testing.contracts.recovery import RecoveryScenarios
from pynenc.testing.contracts.serializer import SerializerContract
from pynenc.testing.contracts.state_backend import StateBackendContract
from pynenc.testing.contracts.trigger import TriggerContract
from pynenc.testing.contracts.workflow import WorkflowContract
from pynenc.testing.harness import ConformanceTests


class TestOrchestratorContract(OrchestratorContract):
    """The orchestrator contract."""


class TestBrokerContract(BrokerContract):
    """The broker contract."""


class TestStateBackendContract(StateBackendContract):
    """The state backend contract."""


class TestTriggerContract(TriggerContract):
    """The trigger contract."""


class TestClientDataStoreContract(ClientDataStoreContract):
    """The client data store contract."""


class TestSerializerContract(SerializerContract):
    """The serializer contract."""


class TestEndToEndScenarios(EndToEndScenarios):
    """The end-to-end scenarios."""


class TestOrchestrationScenarios(OrchestrationScenarios):
    """Concurrency, cycle and blocking control."""


class TestWorkflowContract(WorkflowContract):
    """Workflow records, durable data and deterministic replay."""


class TestRecoveryScenarios(RecoveryScenarios):
    """Recovery of stuck and orphaned work."""


CONTRACTS: dict[str, type[ConformanceTests]] = {
    cls.contract: cls
    for cls in (
        TestOrchestratorContract,
        TestBrokerContract,
        TestStateBackendContract,
        TestTriggerContract,
        TestClientDataStoreContract,
        TestSerializerContract,
        TestEndToEndScenarios,
        TestOrchestrationScenarios,
        TestWorkflowContract,
        TestRecoveryScenarios,
    )
}
"""The collected test class of each contract, by contract name, in report order."""
