"""The in-memory stack passes the whole conformance suite (as a backend author would run it)."""

from collections.abc import Mapping

import pytest

from pynenc.app import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.invocation.status import InvocationStatus
from pynenc.testing import *  # noqa: F403
from pynenc.testing import Backdoor


@pytest.fixture
def pynenc_conformance_config() -> dict[str, str]:
    return {
        "orchestrator_cls": "MemOrchestrator",
        "broker_cls": "MemBroker",
        "state_backend_cls": "MemStateBackend",
        "trigger_cls": "MemTrigger",
        "client_data_store_cls": "MemClientDataStore",
    }


class MemBackdoor(Backdoor):
    """Reads the Mem components' dictionaries, bypassing their public methods and caches."""

    def read_status(self, app: Pynenc, invocation_id: InvocationId) -> InvocationStatus | None:
        row = app.orchestrator._rows.get(invocation_id)  # type: ignore[attr-defined]
        return row.record.status if row else None

    def read_result(self, app: Pynenc, invocation_id: InvocationId) -> str | None:
        return app.state_backend._results.get(invocation_id)  # type: ignore[attr-defined, no-any-return]

    def read_client_data(self, app: Pynenc) -> Mapping[str, str]:
        return dict(app.client_data_store._values)  # type: ignore[attr-defined]


@pytest.fixture
def pynenc_backdoor() -> Backdoor:
    return MemBackdoor()
