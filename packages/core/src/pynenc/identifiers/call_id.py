"""Identity of a call: a task plus a digest of its serialized arguments."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from pynenc.identifiers.task_id import TaskId


def arguments_digest(serialized_arguments: Mapping[str, str]) -> str:
    """A stable digest of serialized arguments, independent of keyword order."""
    if not serialized_arguments:
        return "no_args"
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(serialized_arguments):
        digest.update(name.encode())
        digest.update(b"\x00")
        digest.update(serialized_arguments[name].encode())
        digest.update(b"\x01")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class CallId:
    """Two calls with equal ``CallId`` run the same task with equal arguments."""

    task_id: TaskId
    args_id: str

    @property
    def key(self) -> str:
        return f"{self.task_id.key}#{self.args_id}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def from_key(cls, key: str) -> CallId:
        task_key, sep, args_id = key.rpartition("#")
        if not sep:
            raise ValueError(f"'{key}' is not a call id of the form 'module.function#digest'")
        return cls(TaskId.from_key(task_key), args_id)
