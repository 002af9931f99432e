"""Development sessions, each in its own virtual environment with the packages installed editable.

    nox -l                       list the sessions
    nox                          lint, typecheck and every test session
    nox -s "tests(core)"         one package's tests (pytest options after --)
    nox -s conformance           every backend's conformance module
    nox -s bench -- --config bench/configs/mem.toml   the benchmarks (arguments go to bench/run.py)

Packages and backends are discovered from packages/: a new packages/backend-<name>/ gets its
typecheck run, its test session and its conformance session without editing this file.
``./dev test`` runs the same checks in the shared .venv, without nox.
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PACKAGES_DIR = ROOT / "packages"
CORE_DIR = PACKAGES_DIR / "core"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
ROOT_TESTS = "e2e"
"""Session id of the repository-level tests in tests/ (cross-package, wheels, CLI)."""
CONFORMANCE_GLOB = "tests/**/test_*conformance*.py"

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]


def package_dirs() -> list[Path]:
    """Every distribution of the repository (a folder of packages/ with a pyproject.toml)."""
    return sorted(path.parent for path in PACKAGES_DIR.glob("*/pyproject.toml"))


def backend_dirs() -> list[Path]:
    return [path for path in package_dirs() if path.name.startswith("backend-")]


def backend_module(package: Path) -> str:
    """The ``pynenc.backends.<name>`` module a backend distribution provides."""
    found = sorted(
        child.name
        for child in (package / "src" / "pynenc" / "backends").iterdir()
        if child.is_dir() and child.name.isidentifier()
    )
    if len(found) != 1:
        raise ValueError(
            f"{package} must provide exactly one pynenc.backends module, found {found}"
        )
    return f"pynenc.backends.{found[0]}"


def conformance_modules() -> dict[str, Path]:
    """Each package's conformance test modules, by session id: the package folder name, plus
    what the module name adds (``core/tests/conformance/test_mem_conformance.py`` is ``core-mem``).
    """
    modules: dict[str, Path] = {}
    for package in package_dirs():
        for module in sorted(package.glob(CONFORMANCE_GLOB)):
            label = module.stem.removeprefix("test_").replace("conformance", "").strip("_")
            modules[f"{package.name}-{label}" if label else package.name] = module
    return modules


def dev_requirement(name: str) -> str:
    """The line of requirements-dev.txt for ``name``, so sessions use the same version ranges."""
    pattern = re.compile(rf"^{re.escape(name)}\s*([<>=!~;\[].*)?$", re.IGNORECASE)
    for line in DEV_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if pattern.match(line):
            return line
    return name


def editable_args(*packages: Path) -> list[str]:
    """pip arguments installing ``packages`` editable; the core always comes with them."""
    args = ["-e", f"{CORE_DIR}[yaml,testing]"]
    for package in packages:
        if package != CORE_DIR:
            args += ["-e", str(package)]
    return args


def install_with_dev_tools(session: nox.Session, *packages: Path) -> None:
    session.install(*editable_args(*packages), "-r", str(DEV_REQUIREMENTS))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting (check only)."""
    session.install(dev_requirement("ruff"))
    session.run("ruff", "check", str(ROOT))
    session.run("ruff", "format", "--check", str(ROOT))


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on each distribution on its own (``-p pynenc`` skips the backends)."""
    install_with_dev_tools(session, *package_dirs())
    config = str(ROOT / "pyproject.toml")
    with session.chdir(CORE_DIR / "src"):
        session.run("mypy", "--config-file", config, "-p", "pynenc")
    for package in backend_dirs():
        with session.chdir(package / "src"):
            session.run("mypy", "--config-file", config, "-p", backend_module(package))


TEST_TARGETS = [package.name for package in package_dirs()] + [ROOT_TESTS]


@nox.session
@nox.parametrize("target", TEST_TARGETS, ids=TEST_TARGETS)
def tests(session: nox.Session, target: str) -> None:
    """pytest for one package, in a venv holding only it and the core (e2e: everything)."""
    if target == ROOT_TESTS:
        install_with_dev_tools(session, *package_dirs())
        session.run("pytest", "tests", *session.posargs)
        return
    package = PACKAGES_DIR / target
    install_with_dev_tools(session, package)
    session.run("pytest", str(package.relative_to(ROOT)), *session.posargs)


CONFORMANCE_MODULES = conformance_modules()


@nox.session
@nox.parametrize("module", list(CONFORMANCE_MODULES), ids=list(CONFORMANCE_MODULES))
def conformance(session: nox.Session, module: str) -> None:
    """The shared conformance suite (pynenc.testing) against one backend."""
    path = CONFORMANCE_MODULES[module]
    package = next(parent for parent in path.parents if parent.parent == PACKAGES_DIR)
    install_with_dev_tools(session, package)
    session.run("pytest", str(path.relative_to(ROOT)), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (bench/run.py), with every package installed; arguments after --."""
    script = ROOT / "bench" / "run.py"
    if not script.is_file():
        session.skip(f"{script.relative_to(ROOT)} does not exist yet")
    install_with_dev_tools(session, *package_dirs())
    session.run("python", str(script), *session.posargs)
