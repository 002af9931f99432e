"""A runner process for cross-process scenarios: ``python -m pynenc.testing.child_runner``.

It reads a JSON object from stdin (``app_id``, ``config_values``, ``config_filepath``,
``invocation_ids``, ``timeout``), serves that app with a ThreadRunner until every listed
invocation is final, and exits 0 (1 when they did not finish within the timeout).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from pynenc.app import Pynenc
from pynenc.identifiers.invocation_id import InvocationId
from pynenc.runner.thread_runner import ThreadRunner
from pynenc.testing.harness import RunningRunner


def serve_until_final(spec: dict[str, Any]) -> bool:
    """Run a ThreadRunner for the app ``spec`` describes until its invocations are final."""
    app = Pynenc(
        app_id=spec["app_id"],
        config_values=spec.get("config_values") or {},
        config_filepath=spec.get("config_filepath"),
    )
    invocation_ids = [InvocationId(i) for i in spec["invocation_ids"]]
    running = RunningRunner(ThreadRunner(app)).start()
    deadline = time.monotonic() + float(spec.get("timeout", 30.0))
    try:
        pending = list(invocation_ids)
        while pending and time.monotonic() < deadline:
            app.orchestrator.wait_for_final(pending, timeout=0.5)
            finals = app.orchestrator.get_final_records(pending)
            pending = [i for i in pending if i not in finals]
        return not pending
    finally:
        running.stop()


def main() -> int:
    return 0 if serve_until_final(json.load(sys.stdin)) else 1


if __name__ == "__main__":
    sys.exit(main())
