"""``pynenc purge``: delete everything the app's components store for its app id."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.cli.context import CommandContext, Subparsers

COMPONENT_FIELDS = (
    "orchestrator_cls",
    "broker_cls",
    "state_backend_cls",
    "trigger_cls",
    "client_data_store_cls",
)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "purge",
        help="delete all data stored for the app",
        description="Delete every invocation, status, queued id, result, trigger and stored "
        "argument the app's components keep for its app id. Other apps sharing the same "
        "servers are not touched. Asks for confirmation unless --yes is given.",
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(handler=purge)


def purge(ctx: CommandContext) -> int:
    app = ctx.app()
    if not ctx.args.yes and not _confirmed(
        f"Delete everything stored for app '{app.app_id}' in {_components(app)}? [y/N] "
    ):
        print("Nothing was purged.", file=sys.stderr)
        return 1
    app.purge()
    print(f"Purged every component of app '{app.app_id}'.")
    return 0


def _components(app: Pynenc) -> str:
    return ", ".join(str(getattr(app.conf, field)) for field in COMPONENT_FIELDS)


def _confirmed(prompt: str) -> bool:
    try:
        answer = input(prompt)
    except EOFError:
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")
