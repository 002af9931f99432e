"""Cron evaluation for triggers, in UTC: which tick is the latest, and which expressions fire.

Expressions have the standard 5 fields (minute hour day month weekday) or, as croniter reads
them, a 6th field of seconds at the end (``* * * * * */10`` fires every 10 seconds); croniter's
``@hourly``-style macros are accepted too. An expression that never fires (``0 0 31 2 *``) is
refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import CroniterError, croniter

from pynenc.exceptions import InvalidTriggerError

_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_EPOCH_START = datetime(2000, 1, 1, tzinfo=UTC)


def latest_tick(expression: str, now: datetime) -> datetime:
    """The most recent time at or before ``now`` at which ``expression`` fires."""
    previous: datetime = croniter(expression, now).get_prev(datetime)
    following: datetime = croniter(expression, previous).get_next(datetime)
    return following if following <= now else previous


def next_tick(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``expression`` fires."""
    following: datetime = croniter(expression, after).get_next(datetime)
    return following


def normalize_cron(expression: object) -> str:
    """The expression with single spaces, or :class:`InvalidTriggerError` saying why it is
    refused (wrong field count, a value croniter rejects, or no time at which it fires)."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidTriggerError(
            f"A cron expression must be a non-empty string, not {expression!r}; write e.g. "
            "'*/5 * * * *' (every 5 minutes) or '* * * * * */10' (every 10 seconds)."
        )
    text = " ".join(expression.split())
    if text.lower() not in _MACROS and len(text.split()) not in (5, 6):
        raise InvalidTriggerError(
            f"Cron expression {expression!r} has {len(text.split())} fields: use the standard 5 "
            "(minute hour day month weekday) or 6, the last one being seconds."
        )
    try:
        next_tick(text, _EPOCH_START)
        latest_tick(text, datetime(2100, 1, 1, tzinfo=UTC))
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        raise InvalidTriggerError(
            f"Cron expression {expression!r} is refused: {exc}. A field is out of range, or the "
            "expression can never fire (such as the 31st of February)."
        ) from exc
    return text
