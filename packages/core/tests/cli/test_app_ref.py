"""``--app REF``: the forms a reference may take, and the error a bad one gives."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pynenc import Pynenc
from pynenc.cli.app_ref import load_app, module_name_for
from pynenc.exceptions import AppLoadError

from .conftest import CliRun

Cli = Callable[..., CliRun]


def _sample_app() -> Pynenc:
    app: Pynenc = importlib.import_module("cli_sample_app").app
    return app


def test_module_colon_attribute_loads_that_instance(samples: Path) -> None:
    assert load_app("cli_sample_app:app") is _sample_app()


def test_module_dot_attribute_loads_that_instance(samples: Path) -> None:
    assert load_app("cli_sample_app.app") is _sample_app()


def test_a_module_alone_gives_its_single_instance(samples: Path) -> None:
    assert load_app("cli_sample_app") is _sample_app()


def test_a_file_path_gives_its_single_instance(samples: Path) -> None:
    app = load_app(str(samples / "cli_sample_app.py"))
    assert app is _sample_app()


def test_a_relative_file_path_with_attribute_loads_that_instance(samples: Path) -> None:
    second = load_app("cli_sample_two_apps.py:second")
    assert second.app_id == "cli-second"


def test_a_file_in_a_package_is_imported_under_its_dotted_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "cli_sample_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("from pynenc import Pynenc\napp = Pynenc(app_id='pkg')\n")
    monkeypatch.chdir(tmp_path / "cli_sample_pkg")
    app = load_app("tasks.py")
    assert app.app_id == "pkg"
    assert sys.modules["cli_sample_pkg.tasks"].app is app


def test_module_name_for_walks_up_to_the_outermost_package(tmp_path: Path) -> None:
    inner = tmp_path / "outer" / "inner"
    inner.mkdir(parents=True)
    (tmp_path / "outer" / "__init__.py").write_text("")
    (inner / "__init__.py").write_text("")
    assert module_name_for(inner / "jobs.py") == ("outer.inner.jobs", tmp_path)
    assert module_name_for(inner / "__init__.py") == ("outer.inner", tmp_path)


def test_the_working_directory_is_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli_sample_cwd.py").write_text("from pynenc import Pynenc\napp = Pynenc()\n")
    monkeypatch.chdir(tmp_path)
    assert os.getcwd() not in sys.path
    assert isinstance(load_app("cli_sample_cwd:app"), Pynenc)


def test_a_missing_attribute_names_the_instances_the_module_has(samples: Path) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app("cli_sample_app:ap")
    assert caught.value.attempts == [
        (
            "module 'cli_sample_app', attribute 'ap'",
            "module 'cli_sample_app' has no attribute 'ap'; its Pynenc instances: app",
        )
    ]


def test_a_dotted_reference_reports_both_readings(samples: Path) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app("cli_sample_app.ap")
    candidates = [candidate for candidate, _ in caught.value.attempts]
    assert candidates == ["module 'cli_sample_app', attribute 'ap'", "module 'cli_sample_app.ap'"]
    assert "no module named 'cli_sample_app.ap'" in caught.value.attempts[1][1]


def test_an_attribute_that_is_not_an_app_is_refused(samples: Path) -> None:
    with pytest.raises(AppLoadError, match="'cli_sample_app:add' is a Task, not a Pynenc app"):
        load_app("cli_sample_app:add")


def test_a_module_with_several_apps_asks_which_one(samples: Path) -> None:
    with pytest.raises(AppLoadError, match=r"several Pynenc instances \(first, second\)"):
        load_app("cli_sample_two_apps")


def test_an_error_inside_the_module_is_reported_with_its_line(samples: Path) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app("cli_sample_broken:app")
    (_, reason), *_ = caught.value.attempts
    assert "raised RuntimeError: sample import failure" in reason
    assert "cli_sample_broken.py, line 5" in reason


def test_a_missing_file_is_reported(samples: Path) -> None:
    with pytest.raises(AppLoadError, match=r"nowhere\.py does not exist"):
        load_app("nowhere.py:app")


def test_a_bad_reference_exits_2_with_every_candidate_and_no_traceback(
    samples: Path, cli: Cli
) -> None:
    run = cli("--app", "cli_sample_missing.app", "show_config")
    assert run.code == 2
    assert "Cannot load the app 'cli_sample_missing.app'" in run.err
    assert "module 'cli_sample_missing', attribute 'app': no module named" in run.err
    assert "module 'cli_sample_missing.app': no module named" in run.err
    assert "Traceback" not in run.err
    assert run.out == ""


def test_the_app_may_come_from_the_environment(
    samples: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYNENC_APP", "cli_sample_two_apps:second")
    run = cli("show_config")
    assert run.code == 0
    assert "ConfigPynenc (app 'cli-second')" in run.out


def test_the_app_option_wins_over_the_environment(
    samples: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYNENC_APP", "cli_sample_two_apps:second")
    run = cli("--app", "cli_sample_two_apps:first", "show_config")
    assert "ConfigPynenc (app 'cli-first')" in run.out
