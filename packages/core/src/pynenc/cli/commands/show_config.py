"""``pynenc show_config``: every config field of the app and its components, its value and
where the value came from, as an aligned table grouped by config class."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.cli.context import CommandContext, Subparsers
    from pynenc.conf.config_base import ConfigPynencBase

COMPONENT_KINDS = (
    "orchestrator",
    "broker",
    "state_backend",
    "trigger",
    "client_data_store",
    "serializer",
    "runner",
)
TASK_DEFAULTS_ID = "<task defaults>"
VALUE_COLUMN_MAX = 40
HEADERS = ("FIELD", "VALUE", "SOURCE")


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "show_config",
        help="print every config field, its value and where it came from",
        description="Print the configuration of the app and of each component it selects "
        "(orchestrator, broker, state backend, trigger, client data store, runner) and the task "
        "defaults: every field with its value and its source (field default, pyproject, file, "
        "env, config_values). Secrets are redacted. Keys that no config class reads are listed "
        "at the end, which catches typos.",
    )
    parser.add_argument("--docs", action="store_true", help="print each field's description")
    parser.add_argument(
        "--tasks",
        action="store_true",
        help="also print the resolved options of every task the app has registered",
    )
    parser.set_defaults(handler=show_config)


@dataclass(frozen=True)
class ConfigGroup:
    """One config class to print, or why it could not be built."""

    title: str
    config: ConfigPynencBase | None = None
    error: str | None = None


def show_config(ctx: CommandContext) -> int:
    app = ctx.app()
    groups = config_groups(app, include_tasks=ctx.args.tasks)
    print(render(groups, ctx.args.docs))
    print(_files_read(app))
    unknown = unknown_keys(app)
    if unknown:
        print("Keys no config class reads (misspelt, or for a plugin that is not installed):")
        print("\n".join(f"  {key}" for key in unknown))
    return 1 if any(group.error for group in groups) else 0


def config_groups(app: Pynenc, include_tasks: bool = False) -> list[ConfigGroup]:
    """The app's config, each selected component's config and the task defaults; components
    are not built (no connection is made), only their classes resolved."""
    from pynenc.conf.config_task import ConfigTask
    from pynenc.exceptions import PynencError
    from pynenc.plugins.registry import get_registry

    groups = [ConfigGroup(f"ConfigPynenc (app '{app.app_id}')", app.conf)]
    registry = get_registry()
    for kind in COMPONENT_KINDS:
        field = f"{kind}_cls"
        name = getattr(app.conf, field)
        try:
            cls = registry.resolve(kind, name, field)
            config_cls: type[ConfigPynencBase] | None = getattr(cls, "config_cls", None)
            if config_cls is None:
                continue
            config = config_cls(sources=app.config_sources)
        except PynencError as exc:
            groups.append(ConfigGroup(f"{kind} ({field} = {name})", error=str(exc)))
            continue
        groups.append(ConfigGroup(f"{config_cls.__name__} ({kind}: {cls.__name__})", config))
    groups.append(
        ConfigGroup(
            "ConfigTask (task defaults)", ConfigTask(TASK_DEFAULTS_ID, sources=app.config_sources)
        )
    )
    if include_tasks:
        for key, task in sorted(app.tasks.items()):
            groups.append(ConfigGroup(f"ConfigTask (task {key})", task.conf))
    return groups


def render(groups: Sequence[ConfigGroup], with_docs: bool = False) -> str:
    """The groups as one table whose columns line up across groups."""
    rows = {
        group.title: [
            (info.name, format_value(info.value), str(info.source), info.doc)
            for info in group.config.describe()
        ]
        for group in groups
        if group.config is not None
    }
    every_row = [row for group_rows in rows.values() for row in group_rows]
    name_width = max([len(HEADERS[0]), *(len(row[0]) for row in every_row)])
    value_width = min(VALUE_COLUMN_MAX, max([len(HEADERS[1]), *(len(row[1]) for row in every_row)]))

    def line(name: str, value: str, source: str) -> str:
        return f"  {name.ljust(name_width)}  {value.ljust(value_width)}  {source}".rstrip()

    doc_indent = " " * 6
    out: list[str] = []
    for group in groups:
        out.append(group.title)
        if group.error is not None:
            out.append(f"  cannot show it: {group.error}")
        else:
            out.append(line(*HEADERS))
            for name, value, source, doc in rows[group.title]:
                out.append(line(name, value, source))
                if with_docs and doc:
                    out.append(
                        textwrap.fill(
                            doc, 100, initial_indent=doc_indent, subsequent_indent=doc_indent
                        )
                    )
        out.append("")
    return "\n".join(out)


def format_value(value: Any) -> str:
    """A value as a config file would spell it (true, 5.0, [a, b]); secrets arrive redacted."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, type):
        return (
            value.__qualname__
            if value.__module__ == "builtins"
            else (f"{value.__module__}:{value.__qualname__}")
        )
    if isinstance(value, frozenset | set):
        return _format_items(sorted(value, key=str))
    if isinstance(value, list | tuple):
        return _format_items(value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _format_items(values: Iterable[Any]) -> str:
    return "[" + ", ".join(format_value(value) for value in values) + "]"


def _files_read(app: Pynenc) -> str:
    files = app.config_sources.files
    if not files:
        return "Config files read: none (field defaults, environment and config_values only)."
    return "Config files read (lowest precedence first): " + ", ".join(map(str, files))


def unknown_keys(app: Pynenc) -> list[str]:
    """Keys set in some layer that no config class defined so far reads."""
    from pynenc.conf.config_base import ConfigPynencBase

    known: set[str] = set()
    pending = list(ConfigPynencBase.__subclasses__())
    while pending:
        config_cls = pending.pop()
        known.update(config_cls.config_fields())
        pending.extend(config_cls.__subclasses__())
    return app.config_sources.unknown_keys(known)
