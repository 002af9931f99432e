"""What every command gets: its parsed options and the app they select, loaded on first use."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from pynenc.cli.app_ref import APP_ENV_VAR, load_app, put_working_directory_on_path

if TYPE_CHECKING:
    from pynenc.app import Pynenc

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

CONFIG_FILE_ENV_VAR = "PYNENC__FILEPATH"


def warn(message: str) -> None:
    print(f"pynenc: warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    print(f"pynenc: error: {message}", file=sys.stderr)


class CommandContext:
    """The parsed command line of one ``pynenc`` run and the app it selects."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._app: Pynenc | None = None

    @property
    def app_ref(self) -> str | None:
        """``--app``, else the ``PYNENC_APP`` environment variable."""
        ref: str | None = getattr(self.args, "app", None) or os.environ.get(APP_ENV_VAR)
        return ref or None

    @property
    def config_file(self) -> str | None:
        path: str | None = getattr(self.args, "config", None)
        return path or None

    def app(self) -> Pynenc:
        """The ``--app`` instance, or without one an app built from configuration alone (its
        tasks are imported by module path when invocations of them are run or shown)."""
        if self._app is None:
            self._app = self.load_app(self.app_ref)
        return self._app

    def load_app(self, ref: str | None) -> Pynenc:
        if ref is None:
            from pynenc.app import Pynenc

            put_working_directory_on_path()
            app = Pynenc(config_filepath=self.config_file)
            app.module = None
            return app
        app = load_app(ref)
        self._check_config_file_read(app, ref)
        return app

    def _check_config_file_read(self, app: Pynenc, ref: str) -> None:
        if self.config_file is None:
            return
        wanted = Path(self.config_file).expanduser().resolve()
        if wanted not in {path.resolve() for path in app.config_sources.files}:
            warn(
                f"the app '{ref}' did not read --config {self.config_file}: it is built with its "
                "own config_filepath (or was imported earlier), so its own configuration is used."
            )


@contextmanager
def exported_config_file(path: str | None) -> Iterator[None]:
    """Expose ``--config`` as ``PYNENC__FILEPATH`` while a command runs, so the app module
    (and any process it starts) reads it; the previous value is restored afterwards."""
    if path is None:
        yield
        return
    previous = os.environ.get(CONFIG_FILE_ENV_VAR)
    os.environ[CONFIG_FILE_ENV_VAR] = str(Path(path).expanduser().resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CONFIG_FILE_ENV_VAR, None)
        else:
            os.environ[CONFIG_FILE_ENV_VAR] = previous


def add_app_options(parser: argparse.ArgumentParser, *, suppress_default: bool = False) -> None:
    """``--app`` and ``--config``; commands repeat them with ``suppress_default`` so a value
    given before the command is not reset when it is absent after it."""
    default = argparse.SUPPRESS if suppress_default else None
    parser.add_argument(
        "--app",
        metavar="REF",
        default=default,
        help="the app: 'module:attr', 'module.attr', 'module' or 'path/to/file.py[:attr]' "
        "(default: the PYNENC_APP environment variable; without either, an app is built from "
        "the configuration alone)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="a config file (.toml, .json, .yaml) read as the app's config_filepath",
    )
