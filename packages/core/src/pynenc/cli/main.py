"""``pynenc [--app REF] [--config FILE] COMMAND ...``: parses the command line and runs a command.

Exit status: 0 when the command did what it was asked, 1 when the operation failed, 2 for a
usage error (bad option, an ``--app`` that cannot be loaded, an invalid configuration).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pynenc.cli.commands import (
    conformance,
    invocation,
    purge,
    runner,
    show_config,
    status,
    version,
)
from pynenc.cli.context import (
    CommandContext,
    add_app_options,
    error,
    exported_config_file,
)

if TYPE_CHECKING:
    from pynenc.cli.context import Subparsers

REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (
    runner.register,
    show_config.register,
    status.register,
    purge.register,
    invocation.register,
    conformance.register,
    version.register,
)
"""Each command's parser, in the order ``pynenc --help`` lists them."""

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pynenc",
        description="Run and inspect pynenc apps: start runners, show the configuration, "
        "look at invocations, purge data and check backends against the conformance suite.",
        epilog="Global options go before the command: pynenc --app tasks:app runner start",
    )
    add_app_options(parser)
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, print the full Python traceback as well",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in REGISTRARS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pynenc`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with exported_config_file(args.config):
            status: int = handler(CommandContext(args))
            return status
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message and an exit status
        return _report(exc, show_traceback=args.traceback)


def _report(exc: Exception, show_traceback: bool) -> int:
    from pynenc.exceptions import CliError, ConfigError, PluginError, PynencError

    if show_traceback:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, CliError | ConfigError | PluginError):
        error(str(exc))
        return EXIT_USAGE
    if isinstance(exc, PynencError):
        error(str(exc))
        return EXIT_FAILED
    hint = "" if show_traceback else " (run with --traceback for details)"
    error(f"unexpected {type(exc).__name__}: {exc}{hint}")
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
