"""Fixtures isolating config tests from the machine: no PYNENC__ variables, a fresh project root."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pynenc.conf import ConfigSources


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests that load from os.environ / the working directory see only what they set."""
    for name in list(os.environ):
        if name.upper().startswith("PYNENC__"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root: its (empty) pyproject.toml ends the upward search for project files."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("")
    return root


LoadSources = Callable[..., ConfigSources]


@pytest.fixture
def load(project: Path) -> LoadSources:
    """ConfigSources.load from the project root, with an explicit (default empty) environment."""

    def load_sources(
        config_values: Mapping[str, Any] | None = None,
        config_filepath: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ConfigSources:
        return ConfigSources.load(
            config_values,
            config_filepath,
            cwd=project if cwd is None else cwd,
            environ=environ or {},
        )

    return load_sources
