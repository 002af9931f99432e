"""Type variables shared across the package."""

from typing import ParamSpec, TypeVar

Params = ParamSpec("Params")
Result = TypeVar("Result")
