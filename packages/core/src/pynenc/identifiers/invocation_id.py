"""Invocation ids are random UUID4 hex strings; logs show their first 7 characters."""

from __future__ import annotations

import uuid
from typing import NewType

InvocationId = NewType("InvocationId", str)


def new_invocation_id() -> InvocationId:
    return InvocationId(uuid.uuid4().hex)
