"""``pynenc invocation show ID``: one invocation's call, status, history and outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pynenc.app import Pynenc
    from pynenc.cli.context import CommandContext, Subparsers
    from pynenc.identifiers.invocation_id import InvocationId
    from pynenc.invocation.dist_invocation import InvocationDTO
    from pynenc.invocation.status import InvocationStatus
    from pynenc.models.call_dto import CallDTO
    from pynenc.runner.runner_context import RunnerContext
    from pynenc.state_backend.base_state_backend import InvocationHistory

MIN_PREFIX_LENGTH = 4
MAX_CANDIDATES = 20
LABEL_WIDTH = 11


def register(subparsers: Subparsers) -> None:
    invocation = subparsers.add_parser(
        "invocation",
        help="inspect invocations",
        description="Look at what the backends hold about invocations.",
    )
    commands = invocation.add_subparsers(
        dest="invocation_command", metavar="COMMAND", required=True
    )
    show = commands.add_parser(
        "show",
        help="print an invocation's call, status, history and result",
        description="Print an invocation: its task and arguments, status and retries, every "
        "status change with the runner that made it, and its result or exception (with the "
        "traceback from the runner).",
    )
    show.add_argument(
        "invocation_id",
        metavar="ID",
        help=f"an invocation id, or a prefix of at least {MIN_PREFIX_LENGTH} characters "
        "(logs show 7)",
    )
    show.add_argument(
        "--full-args",
        action="store_true",
        help="print every argument in full, whatever the app's argument printing settings",
    )
    show.set_defaults(handler=show_invocation)


def show_invocation(ctx: CommandContext) -> int:
    app = ctx.app()
    invocation_id = resolve_invocation_id(app, ctx.args.invocation_id)
    print(describe_invocation(app, invocation_id, full_args=ctx.args.full_args))
    return 0


def resolve_invocation_id(app: Pynenc, prefix: str) -> InvocationId:
    """The one invocation whose id starts with ``prefix``."""
    from pynenc.exceptions import AmbiguousInvocationIdError, CliError, InvocationNotFoundError

    prefix = prefix.strip().lower()
    if len(prefix) < MIN_PREFIX_LENGTH:
        raise CliError(
            f"'{prefix}' is too short: give at least {MIN_PREFIX_LENGTH} characters of the "
            "invocation id."
        )
    matches = app.state_backend.find_invocation_ids_by_prefix(prefix, limit=MAX_CANDIDATES + 1)
    exact = [match for match in matches if match == prefix]
    if exact:
        return exact[0]
    if not matches:
        raise InvocationNotFoundError(prefix, f"state backend of app '{app.app_id}'")
    if len(matches) > 1:
        shown = matches[:MAX_CANDIDATES]
        raise AmbiguousInvocationIdError(
            prefix, [_candidate(app, match) for match in shown], more=len(matches) > len(shown)
        )
    return matches[0]


def _candidate(app: Pynenc, invocation_id: InvocationId) -> str:
    return f"{invocation_id} ({_task_key(app, invocation_id)}, {_status_text(app, invocation_id)})"


def _task_key(app: Pynenc, invocation_id: InvocationId) -> str:
    stored = _stored(app, invocation_id)
    return stored[1].task_id.key if stored else "?"


def _stored(app: Pynenc, invocation_id: InvocationId) -> tuple[InvocationDTO, CallDTO] | None:
    """The stored DTOs as they are: rebuilding the invocation would import the task's module,
    which this environment may not have, and a report must still show what is stored."""
    return app.state_backend._get_invocation(invocation_id)


def _status_text(app: Pynenc, invocation_id: InvocationId) -> str:
    from pynenc.exceptions import PynencError

    try:
        return str(app.orchestrator.get_invocation_status(invocation_id, use_cache=False))
    except PynencError:
        return "status unknown"


# --- the report -----------------------------------------------------------------------------


def describe_invocation(app: Pynenc, invocation_id: InvocationId, full_args: bool = False) -> str:
    """The text ``pynenc invocation show`` prints."""
    from pynenc.exceptions import InvocationNotFoundError

    stored = _stored(app, invocation_id)
    if stored is None:
        raise InvocationNotFoundError(invocation_id, f"state backend of app '{app.app_id}'")
    invocation_dto, call_dto = stored
    history = sorted(app.state_backend.get_history(invocation_id), key=lambda h: h.timestamp)
    status, status_note = _status(app, invocation_id, history)
    lines = [
        _field("Invocation", invocation_id),
        _field("Task", call_dto.task_id.key),
        _field("Arguments", _arguments(app, call_dto, full_args)),
        _field("Status", f"{status or 'unknown'}{status_note}"),
        _field("Retries", _retries(app, invocation_id)),
        _field("Parent", invocation_dto.parent_invocation_id or "-"),
    ]
    if invocation_dto.workflow is not None:
        workflow = invocation_dto.workflow
        lines.append(_field("Workflow", f"{workflow.workflow_id} ({workflow.workflow_type.key})"))
    lines.append("History")
    lines.extend(_history_lines(app, history) or ["  (no status change recorded)"])
    lines.extend(_outcome_lines(app, invocation_id, status))
    return "\n".join(lines)


def _field(label: str, value: object) -> str:
    return f"{label.ljust(LABEL_WIDTH)} {value}"


def _arguments(app: Pynenc, call_dto: CallDTO, full_args: bool) -> str:
    """Arguments per the app's printing settings. They are deserialized without importing the
    task, and a failure only costs this line of the report."""
    from pynenc.util.log import printable_arguments

    try:
        arguments = app.client_data_store.deserialize_arguments(call_dto.serialized_arguments)
    except Exception as exc:  # noqa: BLE001 - shown in the report instead of failing it
        return f"(cannot load them here: {type(exc).__name__}: {exc})"
    if not arguments:
        return "(none)"
    if full_args:
        return ", ".join(f"{name}={_safe_repr(value)}" for name, value in arguments.items())
    shown = printable_arguments(arguments, app.conf)
    return shown if shown is not None else "hidden by print_arguments (--full-args shows them)"


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the report
        return f"<{type(value).__name__}: repr failed with {type(exc).__name__}>"


def _status(
    app: Pynenc, invocation_id: InvocationId, history: Sequence[InvocationHistory]
) -> tuple[InvocationStatus | None, str]:
    """The current status and how it is known: the orchestrator, else the last history entry
    (the orchestrator forgets final invocations after auto_final_invocation_purge_hours)."""
    from pynenc.exceptions import InvocationStatusNotFoundError

    try:
        record = app.orchestrator.get_invocation_status_record(invocation_id, use_cache=False)
    except InvocationStatusNotFoundError:
        if not history:
            return None, ""
        note = " (from the history: the orchestrator no longer holds it)"
        return history[-1].status_record.status, note
    return record.status, f" since {_time(record.timestamp)}"


def _retries(app: Pynenc, invocation_id: InvocationId) -> str:
    from pynenc.exceptions import PynencError

    try:
        return str(app.orchestrator.get_invocation_retries(invocation_id))
    except PynencError:
        return "unknown"


def _history_lines(app: Pynenc, history: Sequence[InvocationHistory]) -> list[str]:
    runner_ids = list(dict.fromkeys(entry.runner_context_id for entry in history))
    contexts = {ctx.runner_id: ctx for ctx in app.state_backend.get_runner_contexts(runner_ids)}
    status_width = max((len(str(entry.status_record.status)) for entry in history), default=0)
    lines = []
    for entry in history:
        who = _runner_text(contexts.get(entry.runner_context_id), entry.runner_context_id)
        status = str(entry.status_record.status).ljust(status_width)
        line = f"  {_time(entry.timestamp)}  {status}  {who}"
        if entry.registered_by_inv_id:
            line += f", registered by invocation {entry.registered_by_inv_id}"
        lines.append(line)
    return lines


def _runner_text(ctx: RunnerContext | None, runner_id: str) -> str:
    if ctx is None:
        return f"runner {runner_id} (context not stored)"
    text = f"{ctx.runner_cls} {ctx.runner_id} on {ctx.hostname} pid {ctx.pid}"
    if ctx.parent_ctx is not None:
        text += f", parent {ctx.parent_ctx.runner_cls} {ctx.parent_ctx.runner_id}"
    return text


def _time(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="milliseconds")


def _outcome_lines(
    app: Pynenc, invocation_id: InvocationId, status: InvocationStatus | None
) -> list[str]:
    from pynenc.invocation.status import InvocationStatus

    try:
        if status == InvocationStatus.SUCCESS:
            return [_field("Result", _safe_repr(app.state_backend.get_result(invocation_id)))]
        if status == InvocationStatus.FAILED:
            return _exception_lines(app.state_backend.get_exception(invocation_id))
    except Exception as exc:  # noqa: BLE001 - shown in the report instead of failing it
        return [_field("Outcome", f"cannot load it here: {type(exc).__name__}: {exc}")]
    if status == InvocationStatus.CONCURRENCY_CONTROLLED_FINAL:
        return [_field("Result", "none: not run, an equivalent invocation was already running")]
    return [_field("Result", "none yet: the invocation is not final")]


def _exception_lines(exception: BaseException) -> list[str]:
    cls = type(exception)
    name = cls.__qualname__
    if cls.__module__ != "builtins":
        name = f"{cls.__module__}.{name}"
    lines = [_field("Exception", name), _field("Message", str(exception) or "(empty)")]
    remote: Any = getattr(exception, "__pynenc_traceback__", None)
    if isinstance(remote, str) and remote.strip():
        lines.append("Traceback (from the runner)")
        lines.extend(f"  {line}" for line in remote.rstrip().splitlines())
    return lines
