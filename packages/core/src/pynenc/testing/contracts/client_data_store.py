"""The client data store contract: small argument values stay inline, large ones are stored once
under their content hash and resolved back; a missing reference is a clear error."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from pynenc.app import Pynenc
from pynenc.client_data_store.base_client_data_store import REFERENCE_PREFIX
from pynenc.exceptions import ClientDataStoreError
from pynenc.testing import tasks
from pynenc.testing.harness import ConformanceHarness, ConformanceTests

THRESHOLD = 100
LARGE = "large value " * 50


def _count_stores(app: Pynenc, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the key of every ``_store`` call of the app's client data store."""
    store = app.client_data_store
    keys: list[str] = []
    original: Callable[[str, str], None] = store._store

    def counting(key: str, value: str) -> None:
        keys.append(key)
        original(key, value)

    monkeypatch.setattr(store, "_store", counting)
    return keys


class ClientDataStoreContract(ConformanceTests):
    """How ``client_data_store_cls`` keeps large argument values."""

    contract = "client_data_store"

    @pytest.fixture
    def store_app(self, harness: ConformanceHarness) -> Pynenc:
        """An app that stores any serialized argument of at least 100 characters by reference."""
        return harness.new_app(min_size_to_cache=THRESHOLD)

    def test_small_values_stay_inline(self, store_app: Pynenc) -> None:
        serialized = store_app.client_data_store.serialize_arguments({"x": 1, "s": "short"})
        serializer = store_app.serializer
        assert serialized == {"x": serializer.serialize(1), "s": serializer.serialize("short")}

    def test_a_large_value_is_replaced_by_a_content_hash_reference(self, store_app: Pynenc) -> None:
        serialized = store_app.client_data_store.serialize_arguments({"big": LARGE})
        content = store_app.serializer.serialize(LARGE)
        expected_key = hashlib.sha256(content.encode()).hexdigest()
        assert serialized["big"] == REFERENCE_PREFIX + expected_key

    def test_a_large_value_is_stored_once(
        self, store_app: Pynenc, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        stored_keys = _count_stores(store_app, monkeypatch)
        store = store_app.client_data_store
        first = store.serialize_arguments({"a": LARGE, "b": LARGE})
        second = store.serialize_arguments({"c": LARGE})
        assert first["a"] == first["b"] == second["c"]
        assert len(stored_keys) == 1, "a large value is stored once however often it is passed"

    def test_arguments_round_trip_through_the_store(self, store_app: Pynenc) -> None:
        store = store_app.client_data_store
        arguments: dict[str, Any] = {"big": LARGE, "small": 3, "point": tasks.Point(1, 2)}
        serialized = store.serialize_arguments(arguments)
        store._cache.clear()
        assert store.deserialize_arguments(serialized) == arguments

    def test_another_app_instance_resolves_the_reference(
        self, harness: ConformanceHarness, store_app: Pynenc
    ) -> None:
        harness.require("cross_process")
        serialized = store_app.client_data_store.serialize_arguments({"big": LARGE})
        twin = harness.new_app(app_id=store_app.app_id, min_size_to_cache=THRESHOLD)
        assert twin.client_data_store.deserialize_arguments(serialized) == {"big": LARGE}

    def test_a_missing_reference_is_a_client_data_store_error(self, store_app: Pynenc) -> None:
        with pytest.raises(ClientDataStoreError):
            store_app.client_data_store.resolve(REFERENCE_PREFIX + "0" * 64)

    def test_disabling_the_store_keeps_every_value_inline(
        self, harness: ConformanceHarness
    ) -> None:
        app = harness.new_app(min_size_to_cache=THRESHOLD, disable_client_data_store=True)
        serialized = app.client_data_store.serialize_arguments({"big": LARGE})
        assert serialized == {"big": app.serializer.serialize(LARGE)}

    def test_purge_deletes_the_stored_values(self, store_app: Pynenc) -> None:
        store = store_app.client_data_store
        reference = store.serialize_arguments({"big": LARGE})["big"]
        store.purge()
        store._cache.clear()
        with pytest.raises(ClientDataStoreError):
            store.resolve(reference)

    def test_the_local_cache_never_exceeds_its_size(self, harness: ConformanceHarness) -> None:
        app = harness.new_app(min_size_to_cache=THRESHOLD, local_cache_size=3)
        store = app.client_data_store
        references = [store.serialize_arguments({"v": f"{i}-{LARGE}"})["v"] for i in range(10)]
        for reference in references:
            store.resolve(reference)
        assert len(store._cache) <= 3, "the local cache is bounded by local_cache_size"

    def test_a_large_value_is_stored_once_under_its_content_hash(
        self, harness: ConformanceHarness, store_app: Pynenc
    ) -> None:
        backdoor = harness.backdoor("read_client_data")
        store_app.client_data_store.serialize_arguments({"a": LARGE, "b": LARGE})
        content = store_app.serializer.serialize(LARGE)
        key = hashlib.sha256(content.encode()).hexdigest()
        assert dict(backdoor.read_client_data(store_app)) == {key: content}
