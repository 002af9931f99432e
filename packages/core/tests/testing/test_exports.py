"""Guard: every contract test class defined in a ``pynenc.testing`` module is exported, so a
backend's ``from pynenc.testing import *`` never silently misses a contract."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pynenc.testing
from pynenc.testing.harness import ConformanceTests
from pynenc.testing.runner import CONTRACT_NAMES
from pynenc.testing.suite import CONTRACTS


def _testing_modules() -> list[ModuleType]:
    names = [
        info.name for info in pkgutil.walk_packages(pynenc.testing.__path__, "pynenc.testing.")
    ]
    return [pynenc.testing, *(importlib.import_module(name) for name in names)]


def _contract_classes() -> list[type[ConformanceTests]]:
    return [
        obj
        for module in _testing_modules()
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, ConformanceTests)
        and obj.__module__ == module.__name__
    ]


def test_every_contract_test_class_is_exported() -> None:
    classes = _contract_classes()
    assert len(classes) >= 2 * len(CONTRACT_NAMES)
    missing = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if cls.__name__ not in pynenc.testing.__all__
    )
    assert not missing, f"add these to pynenc.testing.__all__ (and _EXPORTS): {missing}"


def test_every_exported_name_resolves() -> None:
    for name in pynenc.testing.__all__:
        assert getattr(pynenc.testing, name).__name__ == name


def test_every_contract_has_one_collected_test_class() -> None:
    assert tuple(CONTRACTS) == CONTRACT_NAMES
    for name, cls in CONTRACTS.items():
        assert cls.__name__.startswith("Test") and cls.contract == name
        assert cls.__name__ in pynenc.testing.__all__


def test_the_mixins_are_not_collected_by_themselves() -> None:
    mixins = [cls for cls in _contract_classes() if cls not in CONTRACTS.values()]
    assert mixins
    assert not [cls.__name__ for cls in mixins if cls.__name__.startswith("Test")]
