"""Fixtures for every cross-package test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def isolated_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps built with the default (SQLite) components keep their databases under
    ``$XDG_DATA_HOME``: point it at a temporary directory, never the user's own data (and
    never state left by an earlier test run)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data-home")))
        yield
