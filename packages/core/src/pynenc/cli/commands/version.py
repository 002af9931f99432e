"""``pynenc version``: the core's version and every installed pynenc plugin."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynenc.cli.context import CommandContext, Subparsers


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "version",
        help="print the versions of pynenc and its plugins",
        description="Print the pynenc-core version, its contract version, each installed "
        "plugin distribution and the Python version.",
    )
    parser.set_defaults(handler=show_version)


def show_version(ctx: CommandContext) -> int:
    from pynenc import __version__
    from pynenc.plugins.hookspecs import CONTRACT_VERSION
    from pynenc.plugins.registry import get_registry

    print(f"pynenc-core {__version__} (contract version {CONTRACT_VERSION})")
    for name, info in sorted(get_registry().plugins.items()):
        if name != "core":
            version = _distribution_version(info.distribution)
            print(f"{info.distribution} {version} (plugin '{name}')")
    print(f"Python {platform.python_version()}")
    return 0


def _distribution_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(version unknown)"
