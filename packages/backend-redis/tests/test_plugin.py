"""The plugin: registered through the entry point, lazy about importing redis."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pynenc.backends.redis import plugin
from pynenc.plugins.registry import get_registry

CLASSES = {
    "orchestrator": "RedisOrchestrator",
    "broker": "RedisBroker",
    "state_backend": "RedisStateBackend",
    "trigger": "RedisTrigger",
    "client_data_store": "RedisClientDataStore",
}


def test_the_plugin_declares_contract_version_1_as_a_literal() -> None:
    info = plugin.pynenc_plugin_info()
    assert (info.distribution, info.contract_version) == ("pynenc-redis", "1")


@pytest.mark.parametrize(("kind", "name"), CLASSES.items())
def test_each_component_is_found_by_its_name(kind: str, name: str) -> None:
    assert get_registry().resolve(kind, name).__name__ == name


def test_loading_the_plugin_does_not_import_redis() -> None:
    code = (
        "import json, sys\n"
        "from pynenc.plugins.registry import get_registry\n"
        "get_registry()\n"
        "print(json.dumps('redis' in sys.modules))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(output.strip().splitlines()[-1]) is False
