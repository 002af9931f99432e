"""``pynenc conformance``: run the conformance suite against the components a config (or an app)
selects, custom ``module:Class`` components included, and print one line per contract."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pynenc.cli.context import add_app_options

if TYPE_CHECKING:
    from pynenc.cli.context import CommandContext, Subparsers
    from pynenc.conf.config_pynenc import ConfigPynenc
    from pynenc.testing.runner import ConformanceReport

COMPONENT_FIELDS = {
    "orchestrator": "orchestrator_cls",
    "broker": "broker_cls",
    "state_backend": "state_backend_cls",
    "trigger": "trigger_cls",
    "client_data_store": "client_data_store_cls",
    "serializer": "serializer_cls",
}
INSTALL_HINT = "pip install 'pynenc-core[testing]'"


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="check the configured backends against the conformance suite",
        description="Run pynenc's conformance suite against the components the configuration "
        "(--config) or the app (--app) selects, including custom classes given as "
        "'module:Class' in the *_cls fields, and print a pass/fail line per contract. The exit "
        "status is 1 when any contract fails.",
    )
    add_app_options(parser, suppress_default=True)
    parser.add_argument(
        "--contract",
        dest="contracts",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="run only these contracts (repeatable; default: all)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the message of every failed test and the reason of every skipped one",
    )
    parser.add_argument(
        "--pytest-arg",
        dest="pytest_args",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument for pytest, e.g. --pytest-arg=-x (repeatable)",
    )
    parser.set_defaults(handler=run_conformance_command)


def run_conformance_command(ctx: CommandContext) -> int:
    from pynenc.cli.context import error

    try:
        from pynenc.testing.runner import run_conformance  # needs pytest: the testing extra
    except ImportError as exc:
        error(f"the conformance suite needs the testing extra: {INSTALL_HINT} ({exc})")
        return 1
    args = ctx.args
    config_values, config_filepath, conf = _selection(ctx)
    selected = ", ".join(f"{kind}={getattr(conf, f)}" for kind, f in COMPONENT_FIELDS.items())
    print(f"Conformance of {selected}")
    with _cwd_importable_by_subprocesses():
        try:
            report = run_conformance(
                config_values=config_values,
                config_filepath=config_filepath,
                contracts=args.contracts,
                extra_pytest_args=tuple(args.pytest_args),
            )
        except ValueError as exc:
            from pynenc.exceptions import CliError

            raise CliError(f"the conformance suite refused the options: {exc}") from exc
    return _print_report(report, args.verbose)


def _selection(ctx: CommandContext) -> tuple[dict[str, Any] | None, str | None, ConfigPynenc]:
    """What to test: the app's component choices (whatever layer set them) or the config
    file's; every class is resolved first, so a bad name fails here and not in every test."""
    from pynenc.conf.config_pynenc import ConfigPynenc

    app_ref = getattr(ctx.args, "app", None) or (None if ctx.config_file else ctx.app_ref)
    config_values: dict[str, Any] | None = None
    config_filepath = ctx.config_file
    if app_ref is not None:
        app = ctx.load_app(app_ref)
        conf = app.conf
        config_values = {
            **app.config_values,
            **{field: getattr(conf, field) for field in COMPONENT_FIELDS.values()},
        }
        config_filepath = config_filepath or app.config_filepath
    else:
        conf = ConfigPynenc(config_filepath=config_filepath)
    _resolve_components(conf)
    return config_values, config_filepath, conf


def _resolve_components(conf: ConfigPynenc) -> None:
    from pynenc.cli.app_ref import put_working_directory_on_path
    from pynenc.plugins.registry import get_registry

    put_working_directory_on_path()
    registry = get_registry()
    for kind, field in COMPONENT_FIELDS.items():
        registry.resolve(kind, getattr(conf, field), field)


@contextmanager
def _cwd_importable_by_subprocesses() -> Iterator[None]:
    """Custom ``module:Class`` components from the working directory must import in any
    process the suite starts, as they do here."""
    previous = os.environ.get("PYTHONPATH")
    parts = [os.getcwd(), *(previous.split(os.pathsep) if previous else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def _print_report(report: ConformanceReport, verbose: bool) -> int:
    contracts = list(report.contracts)
    if not contracts:
        print("No contract ran: check the --contract names.", file=sys.stderr)
        return 1
    width = max(len(contract.name) for contract in contracts)
    failed = 0
    for contract in contracts:
        ok = contract.failed == 0
        failed += not ok
        print(
            f"{'PASS' if ok else 'FAIL'}  {contract.name.ljust(width)}  passed {contract.passed}, "
            f"failed {contract.failed}, skipped {contract.skipped}"
        )
        for test, message in contract.failures:
            print(f"      {test}")
            if verbose and message:
                print(textwrap.indent(message.rstrip(), "          "))
        if verbose:
            for test, reason in contract.skip_reasons:
                print(f"      skipped {test}: {reason}")
    for problem in report.errors:
        print(f"ERROR  {problem}")
    print(f"{len(contracts) - failed} of {len(contracts)} contracts pass.")
    if failed == 0 and not report.ok:
        print("The suite failed outside the contracts (see above).", file=sys.stderr)
    return 0 if failed == 0 and report.ok else 1
