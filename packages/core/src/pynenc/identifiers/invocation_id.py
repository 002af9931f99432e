"""Invocation ids are 128 random bits as 32 hex characters; logs show their first 7."""

from __future__ import annotations

import os
from typing import NewType

InvocationId = NewType("InvocationId", str)


def new_invocation_id() -> InvocationId:
    return InvocationId(os.urandom(16).hex())
