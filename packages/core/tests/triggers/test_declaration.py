"""Declaring triggers: the builder, cron expressions, and the errors a wrong declaration gets
when the task is declared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pynenc import Pynenc
from pynenc.exceptions import InvalidTriggerError
from pynenc.trigger import TriggerBuilder
from pynenc.trigger.conditions import ArgumentFilter, CompositeLogic, ResultFilter
from pynenc.trigger.cron import latest_tick, normalize_cron

from . import trigger_declarations as decl

NOW = datetime(2030, 1, 1, 12, 0, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    ["61 * * * *", "0 0 31 2 *", "* * * *", "* * * * * * * *", "", "every minute"],
)
def test_an_invalid_or_never_firing_cron_expression_is_refused(expression: str) -> None:
    with pytest.raises(InvalidTriggerError, match=r"[Cc]ron expression"):
        TriggerBuilder().on_cron(expression)


def test_a_sixth_cron_field_is_read_as_seconds() -> None:
    assert latest_tick("* * * * * */5", NOW) == NOW.replace(second=5)
    assert latest_tick("* * * * *", NOW) == NOW.replace(second=0)


def test_cron_expressions_are_normalized_to_single_spaces() -> None:
    assert normalize_cron("  */5   *  * * * ") == "*/5 * * * *"


def test_a_task_declared_with_an_invalid_cron_fails_at_declaration() -> None:
    app = Pynenc(app_id="decl-cron")
    with pytest.raises(InvalidTriggerError, match="31st of February"):
        app.task(triggers=TriggerBuilder().on_cron("0 0 31 2 *"))(decl.watched.func)


def test_a_status_condition_on_an_unknown_task_fails_at_declaration() -> None:
    builder = TriggerBuilder().on_status(f"{decl.__name__}.no_such_task")
    with pytest.raises(InvalidTriggerError, match=r"unknown task .*no_such_task.*Known tasks"):
        builder.build(decl.declarations_app, decl.after_watched.task_id.key)


def test_a_status_condition_on_an_unimportable_module_fails_at_declaration() -> None:
    builder = TriggerBuilder().on_result("no_such_module_xyz.task", 1)
    with pytest.raises(InvalidTriggerError, match="cannot be imported"):
        builder.build(decl.declarations_app, decl.after_watched.task_id.key)


def test_a_status_condition_accepts_a_task_id_string() -> None:
    definition = (
        TriggerBuilder().on_status(decl.watched.task_id.key).build(decl.declarations_app, "x.y")
    )
    assert definition.conditions[0].source == decl.watched.task_id.key


def test_a_trigger_without_conditions_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="no condition"):
        TriggerBuilder().with_args_static({"a": 1}).build(decl.declarations_app, "x.y")


def test_unknown_statuses_and_logic_are_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="Unknown invocation status"):
        TriggerBuilder().on_status(decl.watched, "FINISHED")
    with pytest.raises(InvalidTriggerError, match="'and' or 'or'"):
        TriggerBuilder().with_logic("xor")


def test_a_filter_must_be_a_dict_or_a_callable() -> None:
    with pytest.raises(InvalidTriggerError, match="dict of expected values or a callable"):
        TriggerBuilder().on_event("code", payload_filter=42)  # type: ignore[arg-type]


def test_the_triggers_option_is_not_a_task_config_option() -> None:
    assert decl.after_watched.triggers, "triggers= builds trigger definitions"
    assert "triggers" not in decl.after_watched.conf.task_options


def test_the_same_declaration_gets_the_same_ids_everywhere() -> None:
    def build() -> tuple[str, list[str]]:
        definition = (
            TriggerBuilder()
            .on_event("e", {"k": 1})
            .on_result(decl.watched, lambda r: r > 1)
            .with_logic(CompositeLogic.AND)
            .build(decl.declarations_app, "m.t")
        )
        return definition.trigger_id, definition.condition_ids

    assert build() == build()


def test_different_filters_give_different_condition_ids() -> None:
    first = TriggerBuilder().on_event("e", {"k": 1}).build(decl.declarations_app, "m.t")
    second = TriggerBuilder().on_event("e", {"k": 2}).build(decl.declarations_app, "m.t")
    assert first.condition_ids != second.condition_ids


def test_argument_filters_match_by_equality_or_predicate() -> None:
    assert ArgumentFilter({"a": 1}).matches({"a": 1, "b": 2})
    assert not ArgumentFilter({"a": 1}).matches({"a": 2})
    assert not ArgumentFilter({"a": 1}).matches({})
    assert ArgumentFilter(lambda values: values["a"] > 0).matches({"a": 1})
    assert ArgumentFilter(None).matches({})


def test_result_filters_match_any_a_value_or_a_predicate() -> None:
    assert ResultFilter().matches(None)
    assert ResultFilter(3).matches(3) and not ResultFilter(3).matches(4)
    assert ResultFilter(lambda r: r > 2).matches(3)
