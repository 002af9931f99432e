"""The back door: reading what a backend really stored, past the component under test.

A contract test that only asks the component can be fooled by a component that caches what it
was told. Backend authors subclass :class:`Backdoor`, implement what their store allows, and
return an instance from a ``pynenc_backdoor`` fixture; each back-door check whose method is not
implemented (or with no fixture at all) is skipped, naming the method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.identifiers.invocation_id import InvocationId
    from pynenc.invocation.status import InvocationStatus


class Backdoor:
    """Reads an app's stored state directly from the backend (its own connection, its own
    parsing), never through the app's components or their caches."""

    def read_status(self, app: Pynenc, invocation_id: InvocationId) -> InvocationStatus | None:
        """The invocation's status as the orchestrator stored it (None when absent)."""
        raise NotImplementedError

    def read_result(self, app: Pynenc, invocation_id: InvocationId) -> str | None:
        """The serialized result as the state backend stored it (None when absent)."""
        raise NotImplementedError

    def read_client_data(self, app: Pynenc) -> Mapping[str, str]:
        """Every value the client data store holds for the app, by key."""
        raise NotImplementedError

    def implements(self, method: str) -> bool:
        """Whether a subclass provides ``method``."""
        return getattr(type(self), method) is not getattr(Backdoor, method)
