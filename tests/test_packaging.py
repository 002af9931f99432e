"""Packaging guarantees: the core and every backend are separate wheels that install side by side.

``pynenc`` and ``pynenc.backends`` belong to pynenc-core and extend their ``__path__``, so a
backend distribution only adds ``pynenc/backends/<name>/``. These tests build the real wheels
(the core, every ``packages/backend-*/`` and the example backend in ``tests/fixtures``), check
their contents, install them into a fresh virtual environment and run a task there. Everything
works offline: runtime dependencies are repacked from the distributions installed in this
environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
CORE_PROJECT = REPO_ROOT / "packages" / "core"
EXAMPLE_BACKEND_PROJECT = Path(__file__).resolve().parent / "fixtures" / "example_backend"
NAMESPACE_INIT_FILES = ("pynenc/__init__.py", "pynenc/backends/__init__.py")
SUBPROCESS_TIMEOUT = 240


def backend_projects() -> list[Path]:
    """Every backend distribution of the repository, plus the example backend fixture."""
    published = sorted(
        path.parent for path in (REPO_ROOT / "packages").glob("backend-*/pyproject.toml")
    )
    return [*published, EXAMPLE_BACKEND_PROJECT]


BACKEND_PROJECTS = backend_projects()


def project_name(project: Path) -> str:
    with (project / "pyproject.toml").open("rb") as file:
        name: str = tomllib.load(file)["project"]["name"]
    return name


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def forbidden_namespace_files(wheel: Path) -> list[str]:
    """The core's namespace ``__init__`` files a backend wheel would overwrite on install."""
    return [name for name in wheel_names(wheel) if name in NAMESPACE_INIT_FILES]


def packaged_files(wheel: Path) -> list[str]:
    """Files a wheel installs into site-packages, without its ``.dist-info`` metadata."""
    return [
        name
        for name in wheel_names(wheel)
        if not name.split("/", 1)[0].endswith(".dist-info") and not name.endswith("/")
    ]


def backend_subpackage(wheel: Path) -> str:
    """The ``pynenc.backends.<name>`` package a backend wheel provides."""
    names = {
        name.split("/")[2]
        for name in packaged_files(wheel)
        if name.startswith("pynenc/backends/") and name.count("/") >= 3
    }
    assert len(names) == 1, f"{wheel.name} provides backend packages {sorted(names)}; expected one"
    return names.pop()


# --- building wheels ------------------------------------------------------------------------


@dataclass(frozen=True)
class Wheelhouse:
    directory: Path
    wheels: dict[Path, Path]
    """Built wheel of each project directory."""

    @property
    def core(self) -> Path:
        return self.wheels[CORE_PROJECT]

    def backend(self, project: Path) -> Path:
        return self.wheels[project]


def build_wheels(projects: list[Path], out: Path) -> dict[Path, Path]:
    """Build every project with the hatchling of this environment (no network, no isolation)."""
    run_command(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(out),
        *map(str, projects),
        cwd=out,
    )
    built: dict[Path, Path] = {}
    for project in projects:
        prefix = canonicalize_name(project_name(project)).replace("-", "_") + "-"
        matches = [w for w in out.glob("*.whl") if w.name.lower().startswith(prefix)]
        assert len(matches) == 1, f"expected one wheel for {project}, found {matches}"
        built[project] = matches[0]
    return built


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    directory = tmp_path_factory.mktemp("wheelhouse")
    return Wheelhouse(directory, build_wheels([CORE_PROJECT, *BACKEND_PROJECTS], directory))


# --- wheel contents (fast) ------------------------------------------------------------------


@pytest.mark.parametrize("project", BACKEND_PROJECTS, ids=lambda p: p.name)
def test_backend_wheel_does_not_ship_the_core_namespace_files(
    wheelhouse: Wheelhouse, project: Path
) -> None:
    wheel = wheelhouse.backend(project)
    offending = forbidden_namespace_files(wheel)
    assert not offending, (
        f"{wheel.name} ships {', '.join(offending)}, which belong to pynenc-core: installing it "
        "would overwrite the core's files. Ship only pynenc/backends/<name>/ (hatchling: "
        'only-include = ["src/pynenc/backends/<name>"], sources = ["src"]).'
    )


@pytest.mark.parametrize("project", BACKEND_PROJECTS, ids=lambda p: p.name)
def test_backend_wheel_ships_only_its_own_typed_subpackage(
    wheelhouse: Wheelhouse, project: Path
) -> None:
    wheel = wheelhouse.backend(project)
    name = backend_subpackage(wheel)
    root = f"pynenc/backends/{name}/"
    outside = [path for path in packaged_files(wheel) if not path.startswith(root)]
    assert not outside, f"{wheel.name} ships files outside {root}: {outside}"
    assert f"{root}py.typed" in wheel_names(wheel), f"{wheel.name} lacks {root}py.typed"


def test_core_wheel_ships_the_namespace_files_and_py_typed(wheelhouse: Wheelhouse) -> None:
    names = wheel_names(wheelhouse.core)
    for required in (*NAMESPACE_INIT_FILES, "pynenc/py.typed"):
        assert required in names, f"{wheelhouse.core.name} lacks {required}"


def test_core_wheel_ships_no_backend_subpackage(wheelhouse: Wheelhouse) -> None:
    nested = [
        name
        for name in packaged_files(wheelhouse.core)
        if name.startswith("pynenc/backends/") and name != "pynenc/backends/__init__.py"
    ]
    assert not nested, f"{wheelhouse.core.name} ships backend modules: {nested}"


def test_namespace_guard_names_the_offending_files(tmp_path: Path) -> None:
    wheel = tmp_path / "pynenc_bad-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in ("pynenc/__init__.py", "pynenc/backends/bad/__init__.py"):
            archive.writestr(name, "")
    assert forbidden_namespace_files(wheel) == ["pynenc/__init__.py"]


# --- editable layout (fast) -----------------------------------------------------------------


@pytest.mark.parametrize("backend_first", [False, True], ids=["core-first", "backend-first"])
def test_backend_src_dir_joins_the_core_namespace_from_sys_path(backend_first: bool) -> None:
    src_dirs = [str(CORE_PROJECT / "src"), str(EXAMPLE_BACKEND_PROJECT / "src")]
    if backend_first:
        src_dirs.reverse()
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path[:0] = {src_dirs!r}
        import pynenc
        import pynenc.backends.example
        from pynenc.backends.example.broker import ExampleBroker
        from pynenc.broker.mem_broker import MemBroker
        print(json.dumps({{
            "core": pynenc.__file__,
            "backend": pynenc.backends.example.__file__,
            "is_broker": issubclass(ExampleBroker, MemBroker),
        }}))
        """
    )
    report = json.loads(run_command(sys.executable, "-I", "-c", code, cwd=REPO_ROOT))
    assert Path(report["core"]).is_relative_to(CORE_PROJECT / "src")
    assert Path(report["backend"]).is_relative_to(EXAMPLE_BACKEND_PROJECT / "src")
    assert report["is_broker"]


# --- installed wheels in a fresh venv (slow) ------------------------------------------------


def clean_env() -> dict[str, str]:
    """The environment without anything that would point Python back at this checkout."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.upper().startswith("PYNENC__")
    }


def run_command(*command: str | Path, cwd: Path) -> str:
    """Run a command in a clean environment; fail the test with its output if it fails."""
    completed = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert completed.returncode == 0, (
        f"{' '.join(map(str, command))[:300]} exited {completed.returncode}\n"
        f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    )
    return completed.stdout


@dataclass(frozen=True)
class FreshVenv:
    root: Path
    python: Path
    site_packages: Path
    workdir: Path

    def run(self, script: str) -> dict[str, Any]:
        path = self.workdir / "check.py"
        path.write_text(textwrap.dedent(script), encoding="utf-8")
        output = run_command(self.python, str(path), cwd=self.workdir)
        report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return report


@pytest.fixture(scope="module")
def installed_venv(wheelhouse: Wheelhouse, tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    """A new venv (no access to this environment) with every built wheel installed by pip;
    third-party runtime dependencies come from the package index, as for a user."""
    root = tmp_path_factory.mktemp("venv")
    run_command(sys.executable, "-m", "venv", "--without-pip", str(root), cwd=root)
    python = root / "bin" / "python"
    projects = [CORE_PROJECT, *BACKEND_PROJECTS]
    # Our wheels by path: a name could resolve to an unrelated release on the package index.
    wheels = [str(wheelhouse.wheels[project]) for project in projects]
    run_command(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--find-links",
        str(wheelhouse.directory),
        *wheels,
        cwd=root,
    )
    site_packages = Path(
        run_command(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=root
        ).strip()
    )
    workdir = root / "work"
    workdir.mkdir()
    return FreshVenv(root, python, site_packages, workdir)


END_TO_END_SCRIPT = """
import json
import threading

import pynenc
import pynenc.backends.example
from pynenc import Pynenc
from pynenc.plugins.registry import get_registry
from pynenc.runner.thread_runner import ThreadRunner

app = Pynenc(
    app_id="packaging-check",
    config_values={
        "broker_cls": "ExampleBroker",
        "orchestrator_cls": "MemOrchestrator",
        "state_backend_cls": "MemStateBackend",
        "trigger_cls": "MemTrigger",
        "client_data_store_cls": "MemClientDataStore",
    },
)


@app.task
def add(x: int, y: int) -> int:
    return x + y


runner = ThreadRunner(app)
worker = threading.Thread(target=runner.run, daemon=True)
worker.start()
try:
    result = add(20, 22).wait(timeout=60)
finally:
    runner.stop_runner_loop()
    stopped = runner.wait_until_stopped(timeout=30)

registry = get_registry()
print(json.dumps({
    "core_file": pynenc.__file__,
    "backend_file": pynenc.backends.example.__file__,
    "plugin_distribution": registry.plugins["example"].distribution,
    "resolved": registry.resolve("broker", "ExampleBroker").__qualname__,
    "broker_type": type(app.broker).__qualname__,
    "result": result,
    "runner_stopped": stopped,
}))
"""


@pytest.fixture(scope="module")
def end_to_end_report(installed_venv: FreshVenv) -> dict[str, Any]:
    return installed_venv.run(END_TO_END_SCRIPT)


@pytest.mark.slow
def test_installed_wheels_are_imported_from_the_venv(
    installed_venv: FreshVenv, end_to_end_report: Mapping[str, Any]
) -> None:
    site = installed_venv.site_packages.resolve()
    assert Path(end_to_end_report["core_file"]).resolve() == site / "pynenc" / "__init__.py"
    assert (
        Path(end_to_end_report["backend_file"])
        .resolve()
        .is_relative_to(site / "pynenc" / "backends" / "example")
    )


@pytest.mark.slow
def test_installed_core_namespace_files_are_the_core_wheels(
    wheelhouse: Wheelhouse, installed_venv: FreshVenv
) -> None:
    with zipfile.ZipFile(wheelhouse.core) as archive:
        for name in NAMESPACE_INIT_FILES:
            installed = (installed_venv.site_packages / name).read_bytes()
            assert installed == archive.read(name), f"{name} was overwritten on install"


@pytest.mark.slow
def test_installed_backend_plugin_registers_its_broker(
    end_to_end_report: Mapping[str, Any],
) -> None:
    assert end_to_end_report["plugin_distribution"] == "pynenc-example-backend"
    assert end_to_end_report["resolved"] == "ExampleBroker"


@pytest.mark.slow
def test_installed_wheels_run_a_task_end_to_end_on_the_plugin_broker(
    end_to_end_report: Mapping[str, Any],
) -> None:
    assert end_to_end_report["broker_type"] == "ExampleBroker"
    assert end_to_end_report["result"] == 42
    assert end_to_end_report["runner_stopped"] is True


@pytest.mark.slow
@pytest.mark.parametrize("project", BACKEND_PROJECTS, ids=lambda p: p.name)
def test_every_installed_backend_is_importable(
    wheelhouse: Wheelhouse, installed_venv: FreshVenv, project: Path
) -> None:
    name = backend_subpackage(wheelhouse.backend(project))
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), f"{name!r} is not a module name"
    report = installed_venv.run(
        f"""
        import json
        import pynenc.backends.{name} as backend
        print(json.dumps({{"file": backend.__file__}}))
        """
    )
    expected = installed_venv.site_packages.resolve() / "pynenc" / "backends" / name
    assert Path(report["file"]).resolve().is_relative_to(expected)
