"""Logging for pynenc apps: one configured logger per app, TEXT or JSON lines with context.

Every app logs through its own logger, ``pynenc.app.<app_id>`` (see :func:`app_logger_name`),
which :func:`configure_app_logger` gives exactly one :class:`PynencLogHandler` and
``propagate=False``. So two apps in one process each log in their own format, building an app
again replaces its handler instead of adding one, and the root logger is never touched: attach
your own handlers to the app logger (or set ``propagate=True`` on it) to route pynenc's lines
elsewhere.

Lines carry the runner and the invocation the current thread works for, read from
:mod:`pynenc.invocation.context` when the line is formatted. Task arguments are only shown
through :func:`printable_arguments`, the single place where ``print_arguments`` and
``argument_print_mode`` are applied.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TextIO

from pynenc.conf.config_pynenc import ArgumentPrintMode, LogFormat
from pynenc.invocation import context

if TYPE_CHECKING:
    from pynenc.conf.config_pynenc import ConfigPynenc
    from pynenc.runner.runner_context import RunnerContext

__all__ = [
    "HIDDEN_ARGUMENTS",
    "JsonFormatter",
    "LogContext",
    "PynencFormatter",
    "PynencLogHandler",
    "TextFormatter",
    "app_logger_name",
    "compact_class_name",
    "compact_id",
    "configure_app_logger",
    "format_arguments",
    "printable_arguments",
    "should_use_colors",
]

APP_LOGGER_PREFIX = "pynenc.app"
COMPACT_ID_LENGTH = 7
_configure_lock = threading.Lock()
HIDDEN_ARGUMENTS = "..."
"""What stands for the arguments when they must not be shown: ``mymod.add(...)``."""


# --- arguments ------------------------------------------------------------------------------


def printable_arguments(arguments: Mapping[str, Any], conf: ConfigPynenc) -> str | None:
    """Arguments as log lines may show them, or None when they must not appear at all.

    ``print_arguments`` is the master switch (off by default: arguments may hold secrets);
    when it is on, ``argument_print_mode`` decides how much is shown.
    """
    mode = conf.argument_print_mode
    if not conf.print_arguments or mode == ArgumentPrintMode.HIDDEN:
        return None
    if mode == ArgumentPrintMode.KEYS:
        return ", ".join(arguments)
    limit = conf.truncate_arguments_length if mode == ArgumentPrintMode.TRUNCATED else 0
    return ", ".join(
        f"{name}={_shorten(_safe_repr(value), limit)}" for name, value in arguments.items()
    )


def format_arguments(arguments: Mapping[str, Any], conf: ConfigPynenc) -> str:
    """:func:`printable_arguments`, with :data:`HIDDEN_ARGUMENTS` when they are not shown."""
    shown = printable_arguments(arguments, conf)
    return HIDDEN_ARGUMENTS if shown is None else shown


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break logging
        return f"<{type(value).__name__} (repr failed)>"


def _shorten(text: str, limit: int) -> str:
    return text[:limit] + "..." if 0 < limit < len(text) else text


# --- context --------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def compact_class_name(name: str) -> str:
    """The capitals of a class name (``PersistentProcessRunner`` -> ``PPR``), or the name itself
    when it has none."""
    capitals = "".join(char for char in name if char.isupper())
    return capitals or name


def compact_id(identifier: str) -> str:
    """An id cut to 7 characters; a ``Name-`` prefix (``ThreadRunner-8a2b1c3d...``) is kept
    and only the part after the last dash is cut."""
    prefix, dash, tail = identifier.rpartition("-")
    if dash and prefix:
        return f"{prefix}-{tail[:COMPACT_ID_LENGTH]}"
    return identifier[:COMPACT_ID_LENGTH]


@dataclass(frozen=True, slots=True)
class LogContext:
    """The runner and invocation the current thread (or asyncio task) is working for."""

    runner: RunnerContext | None = None
    invocation_id: str | None = None
    task_id: str | None = None

    @classmethod
    def current(cls) -> LogContext:
        runner_ctx = context.current_runner_context.get()
        if runner_ctx is None:
            runner = context.current_runner.get()
            runner_ctx = runner.runner_context if runner is not None else None
        invocation = context.current_invocation.get()
        if invocation is None:
            return cls(runner_ctx)
        return cls(runner_ctx, invocation.invocation_id, invocation.call.task.task_id.key)

    def prefixes(self, compact: bool) -> list[str]:
        """``[TR(ThreadRunner-8a2b1c3)]`` and ``[inv:4f3a2b1 mymod.add]``, those that apply."""
        parts = []
        if self.runner is not None:
            cls_name, runner_id = self.runner.runner_cls, self.runner.runner_id
            if compact:
                cls_name, runner_id = compact_class_name(cls_name), compact_id(runner_id)
            parts.append(f"[{cls_name}({runner_id})]")
        if self.invocation_id is not None:
            invocation_id = self.invocation_id
            if compact:
                invocation_id = invocation_id[:COMPACT_ID_LENGTH]
            parts.append(f"[inv:{invocation_id} {self.task_id}]")
        return parts

    def fields(self) -> dict[str, Any]:
        """The structured (JSON) form: full ids, only the keys that apply."""
        fields: dict[str, Any] = {}
        if self.runner is not None:
            fields["runner_cls"] = self.runner.runner_cls
            fields["runner_id"] = self.runner.runner_id
            fields["pid"] = self.runner.pid
            fields["hostname"] = self.runner.hostname
        if self.invocation_id is not None:
            fields["invocation_id"] = self.invocation_id
            fields["task_id"] = self.task_id
        return fields


# --- colours --------------------------------------------------------------------------------


def should_use_colors(
    setting: bool | None, stream: TextIO, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether TEXT lines written to ``stream`` get ANSI colours.

    An explicit ``log_use_colors`` wins. Unset (auto) follows the convention of CPython, click
    and rich: a non-empty ``NO_COLOR`` disables them, else a non-empty ``FORCE_COLOR`` enables
    them, else they are used only on a terminal (not ``TERM=dumb``).
    """
    if setting is not None:
        return setting
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_LEVEL_COLORS = {
    logging.DEBUG: "\x1b[36m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[1;31m",
}
_RUNNER_COLOR = "\x1b[35m"
_INVOCATION_COLOR = "\x1b[34m"


def _paint(text: str, color: str, enabled: bool) -> str:
    return f"{color}{text}{_RESET}" if enabled else text


def _level_color(levelno: int) -> str:
    """The colour of the highest standard level at or below ``levelno`` (custom levels too)."""
    at_or_below = [level for level in _LEVEL_COLORS if level <= levelno]
    return _LEVEL_COLORS[max(at_or_below, default=logging.DEBUG)]


# --- formatters -----------------------------------------------------------------------------


class PynencFormatter(logging.Formatter):
    """Base of pynenc's formatters: :meth:`render` takes the colour decision from the handler,
    which knows the stream; plain :meth:`format` renders without colours."""

    def __init__(self, compact: bool = True) -> None:
        super().__init__()
        self.compact = compact

    def format(self, record: logging.LogRecord) -> str:
        return self.render(record, colors=False)

    def render(self, record: logging.LogRecord, colors: bool) -> str:
        raise NotImplementedError

    def text_line(
        self, record: logging.LogRecord, message: str, log_context: LogContext, colors: bool
    ) -> str:
        """The human-readable line: UTC time, level, logger, context prefixes, message."""
        created = datetime.fromtimestamp(record.created, UTC)
        stamp = f"{created:%Y-%m-%d %H:%M:%S}.{int(record.msecs):03d}"
        level = f"{record.levelname:<8}"
        parts = [
            _paint(stamp, _DIM, colors),
            _paint(level, _level_color(record.levelno), colors),
            _paint(record.name, _DIM, colors),
        ]
        for prefix in log_context.prefixes(self.compact):
            color = _INVOCATION_COLOR if prefix.startswith("[inv:") else _RUNNER_COLOR
            parts.append(_paint(prefix, color, colors))
        parts.append(message)
        return " ".join(parts)

    def exception_text(self, record: logging.LogRecord) -> str | None:
        """The traceback (and stack) of the record, if it carries any."""
        texts = []
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(self.formatStack(record.stack_info))
        return "\n".join(texts) or None


class TextFormatter(PynencFormatter):
    """``LogFormat.TEXT``: one human-readable line, followed by the traceback if any."""

    def render(self, record: logging.LogRecord, colors: bool) -> str:
        line = self.text_line(record, record.getMessage(), LogContext.current(), colors)
        exception = self.exception_text(record)
        return f"{line}\n{exception}" if exception else line


class JsonFormatter(PynencFormatter):
    """``LogFormat.JSON``: one JSON object per line, for log aggregators.

    Keys: ``severity``, ``timestamp`` (ISO 8601, UTC), ``logger``, ``message``; the runner
    (``runner_cls``, ``runner_id``, ``pid``, ``hostname``) and invocation (``invocation_id``,
    ``task_id``) context when there is one, with full ids; ``exception`` when the record carries
    a traceback; ``text``, the TEXT line without colours (ids compacted per
    ``compact_log_context``), for tools that show lines to people.
    """

    def render(self, record: logging.LogRecord, colors: bool) -> str:
        log_context = LogContext.current()
        message = record.getMessage()
        payload: dict[str, Any] = {
            "severity": record.levelname,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "logger": record.name,
            "message": message,
            **log_context.fields(),
        }
        exception = self.exception_text(record)
        if exception:
            payload["exception"] = exception
        payload["text"] = self.text_line(record, message, log_context, colors=False)
        return json.dumps(payload, ensure_ascii=False, default=str)


# --- handler and configuration --------------------------------------------------------------


class PynencLogHandler(logging.Handler):
    """Writes one app's records to ``sys.stderr`` or ``sys.stdout``.

    The stream is looked up at every write, so redirections made after the app was built
    (``contextlib.redirect_stdout``, pytest's capture) are honoured, as ``logging.lastResort``
    does; colours are decided per write for the same reason.
    """

    def __init__(
        self, stream_name: str, formatter: PynencFormatter, use_colors: bool | None = None
    ) -> None:
        if stream_name not in ("stderr", "stdout"):
            raise ValueError(f"log stream must be 'stderr' or 'stdout', not {stream_name!r}")
        super().__init__()
        self.stream_name = stream_name
        self.use_colors = use_colors
        self.setFormatter(formatter)

    @property
    def stream(self) -> TextIO:
        return sys.stdout if self.stream_name == "stdout" else sys.stderr

    def format(self, record: logging.LogRecord) -> str:
        formatter = self.formatter
        if isinstance(formatter, PynencFormatter):
            return formatter.render(record, should_use_colors(self.use_colors, self.stream))
        return super().format(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = self.stream
            stream.write(line + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


def app_logger_name(app_id: str) -> str:
    """The name of an app's logger: ``pynenc.app.<app_id>``."""
    return f"{APP_LOGGER_PREFIX}.{app_id}"


def build_formatter(conf: ConfigPynenc) -> PynencFormatter:
    if conf.log_format == LogFormat.JSON:
        return JsonFormatter(compact=conf.compact_log_context)
    return TextFormatter(compact=conf.compact_log_context)


def configure_app_logger(conf: ConfigPynenc) -> logging.Logger:
    """Set up (or reset) the logger of ``conf.app_id`` from its logging fields and return it.

    Any :class:`PynencLogHandler` already on the logger is replaced, so configuring again never
    duplicates lines; handlers added by the user are left alone. Apps sharing an app id share
    the logger, and the last one configured sets its format.
    """
    logger = logging.getLogger(app_logger_name(conf.app_id))
    handler = PynencLogHandler(conf.log_stream, build_formatter(conf), conf.log_use_colors)
    with _configure_lock:
        for old in [h for h in logger.handlers if isinstance(h, PynencLogHandler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(conf.logging_level.upper())
        logger.propagate = False
    return logger
