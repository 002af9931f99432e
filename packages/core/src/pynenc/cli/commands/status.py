"""``pynenc status render``: the invocation status machine as a table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynenc.cli.context import CommandContext, Subparsers


def register(subparsers: Subparsers) -> None:
    status = subparsers.add_parser(
        "status",
        help="the invocation status machine",
        description="Invocation statuses: which are final, which a runner may claim, which "
        "are owned, and the moves each allows.",
    )
    commands = status.add_subparsers(dest="status_command", metavar="COMMAND", required=True)
    render = commands.add_parser(
        "render",
        help="print the status table",
        description="Print every status with its properties and the statuses it may move to.",
    )
    render.set_defaults(handler=render_statuses)


def render_statuses(ctx: CommandContext) -> int:
    from pynenc.invocation.status import render_status_table

    print(render_status_table())
    return 0
