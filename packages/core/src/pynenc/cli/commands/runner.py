"""``pynenc runner start``: run a runner in the foreground until SIGTERM or SIGINT.

Size options override the runner's configuration: they are added as ``config_values`` scoped to
the runner's config class (the section named after it), so they win over every other layer and
reach no other config class. ``--option KEY=VALUE`` sets any field of that class, so a new runner
needs no new command-line flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.cli.context import CommandContext, Subparsers
    from pynenc.conf.config_runner import ConfigRunner
    from pynenc.runner.base_runner import BaseRunner

PROCESS_COUNT_FIELDS = ("processes", "num_processes", "max_processes")
"""Config fields ``--processes`` sets, the first one the runner's config class has."""


def register(subparsers: Subparsers) -> None:
    runner = subparsers.add_parser(
        "runner",
        help="start a runner",
        description="Runners execute the invocations of an app.",
    )
    commands = runner.add_subparsers(dest="runner_command", metavar="COMMAND", required=True)
    start = commands.add_parser(
        "start",
        help="run a runner in the foreground until SIGTERM or Ctrl+C",
        description="Build the runner the app's runner_cls selects (or --runner-class) and run "
        "it in the foreground. SIGTERM or SIGINT stops it: in-flight invocations get "
        "graceful_shutdown_timeout_seconds to finish, the rest are rerouted. Options given "
        "here override the runner's configuration.",
    )
    start.add_argument(
        "--runner-class",
        metavar="NAME",
        help="a registered runner name (ThreadRunner, ...) or 'module:Class' "
        "(default: the app's runner_cls)",
    )
    start.add_argument(
        "--max-threads",
        type=int,
        metavar="N",
        help="invocations run at once in threads (the runner config's max_threads)",
    )
    start.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="worker processes, for runners that have them "
        f"(the runner config's {' / '.join(PROCESS_COUNT_FIELDS)})",
    )
    start.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any field of the runner's config class (see `pynenc show_config`); "
        "repeatable; --max-threads and --processes win over it",
    )
    start.set_defaults(handler=start_runner)


def start_runner(ctx: CommandContext) -> int:
    from pynenc.exceptions import CliError, ConfigValueError
    from pynenc.plugins.registry import get_registry

    args = ctx.args
    app = ctx.app()
    runner_cls: type[BaseRunner] = get_registry().resolve(
        "runner", args.runner_class or app.conf.runner_cls, "runner_cls"
    )
    overrides = runner_overrides(runner_cls, args.option, args.max_threads, args.processes)
    try:
        runner = build_runner(app, runner_cls, overrides)
    except ConfigValueError as exc:
        if exc.field not in overrides:
            raise
        raise CliError(
            f"Invalid runner option {exc.field}={overrides[exc.field]!r}: expected {exc.expected}."
        ) from exc
    app.runner = runner
    runner.run()
    return 0


def runner_overrides(
    runner_cls: type[BaseRunner],
    options: Sequence[str],
    max_threads: int | None = None,
    processes: int | None = None,
) -> dict[str, Any]:
    """The runner config fields the command line sets, checked against its config class."""
    from pynenc.exceptions import CliError

    fields = runner_cls.config_cls.config_fields()
    overrides: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            raise CliError(f"--option {option!r} is not KEY=VALUE, e.g. --option max_threads=8.")
        if key not in fields:
            raise CliError(
                f"{runner_cls.__name__} has no config field '{key}'. {_fields_of(runner_cls)}"
            )
        overrides[key] = value.strip()
    if max_threads is not None:
        if "max_threads" not in fields:
            raise CliError(_not_applicable("--max-threads", "max_threads", runner_cls))
        overrides["max_threads"] = max_threads
    if processes is not None:
        field = next((name for name in PROCESS_COUNT_FIELDS if name in fields), None)
        if field is None:
            raise CliError(_not_applicable("--processes", "process count", runner_cls))
        overrides[field] = processes
    return overrides


def _fields_of(runner_cls: type[BaseRunner]) -> str:
    config_cls: type[ConfigRunner] = runner_cls.config_cls
    return f"Fields of {config_cls.__name__}: {', '.join(config_cls.config_fields())}."


def _not_applicable(flag: str, what: str, runner_cls: type[BaseRunner]) -> str:
    return (
        f"{flag} does not apply to {runner_cls.__name__}: its config has no {what} field. "
        f"{_fields_of(runner_cls)} Set them with --option KEY=VALUE."
    )


def build_runner(
    app: Pynenc, runner_cls: type[BaseRunner], overrides: dict[str, Any]
) -> BaseRunner:
    """The runner, its config resolved with ``overrides`` above every other layer."""
    if overrides:
        section = runner_cls.config_cls.__name__.lower()
        app.config_sources = app.config_sources.with_config_values({section: overrides})
    return runner_cls(app)
