"""Finding the app ``--app`` names: ``module:attr``, ``module.attr``, ``module`` or
``path/to/file.py[:attr]``.

Like ``python -m``, the working directory is put on ``sys.path`` first. Every candidate tried is
remembered with the reason it failed, so a bad reference is reported as one readable error
instead of a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from pynenc.exceptions import AppLoadError

if TYPE_CHECKING:
    from pynenc.app import Pynenc

APP_ENV_VAR = "PYNENC_APP"

_HINT = (
    "Give --app (or {env}) as 'module:attribute', 'module.attribute', 'module' (holding a "
    "single Pynenc instance) or 'path/to/file.py[:attribute]'; the working directory {cwd} is "
    "on sys.path."
)

_Loader = Callable[[], "Pynenc"]


class _CandidateFailed(Exception):
    """One reading of the reference did not give an app; the message says why."""


def put_working_directory_on_path() -> None:
    """Make modules of the working directory importable, as ``python -m`` does."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def load_app(ref: str) -> Pynenc:
    """The Pynenc instance ``ref`` names; raises :class:`AppLoadError` listing every candidate."""
    put_working_directory_on_path()
    attempts: list[tuple[str, str]] = []
    for candidate, loader in _candidates(ref.strip()):
        try:
            return loader()
        except _CandidateFailed as failure:
            attempts.append((candidate, str(failure)))
    raise AppLoadError(ref, attempts, _HINT.format(env=APP_ENV_VAR, cwd=os.getcwd()))


def _candidates(ref: str) -> list[tuple[str, _Loader]]:
    """Each way of reading ``ref``, most specific first."""
    if not ref:
        return [("''", partial(_fail, "the reference is empty"))]
    file_ref = _split_file_ref(ref)
    if file_ref is not None:
        path, attr = file_ref
        label = f"file '{path}'" + (f", attribute '{attr}'" if attr else "")
        return [(label, partial(_from_file, path, attr))]
    if ":" in ref:
        module, _, attr = ref.partition(":")
        return [(f"module '{module}', attribute '{attr}'", partial(_from_module, module, attr))]
    candidates: list[tuple[str, _Loader]] = []
    if "." in ref:
        module, _, attr = ref.rpartition(".")
        candidates.append(
            (f"module '{module}', attribute '{attr}'", partial(_from_module, module, attr))
        )
    candidates.append((f"module '{ref}'", partial(_from_module, ref, None)))
    return candidates


def _fail(reason: str) -> Pynenc:
    raise _CandidateFailed(reason)


def _split_file_ref(ref: str) -> tuple[str, str | None] | None:
    """``(path, attribute)`` when ``ref`` names a file, else None."""
    head, sep, tail = ref.rpartition(":")
    if sep and (head.endswith(".py") or os.sep in head):
        return head, tail or None
    if ref.endswith(".py") or os.sep in ref:
        return ref, None
    return None


# --- modules --------------------------------------------------------------------------------


def _from_module(module_name: str, attr: str | None) -> Pynenc:
    if not module_name:
        raise _CandidateFailed("the module name is empty")
    if attr == "":
        raise _CandidateFailed("the attribute name is empty")
    return _app_in(_import(module_name), module_name, attr)


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise _CandidateFailed(f"no module named '{missing}'") from None
        raise _CandidateFailed(_import_failure(module_name, exc)) from None
    except Exception as exc:  # noqa: BLE001 - any error of the user's module is reported, not raised
        raise _CandidateFailed(_import_failure(module_name, exc)) from None


def _import_failure(module_name: str, exc: BaseException) -> str:
    """What went wrong while the module ran, with the line it happened at."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames and not isinstance(exc, SyntaxError):
        last = frames[-1]
        where = f" (at {last.filename}, line {last.lineno})"
    return f"importing '{module_name}' raised {type(exc).__name__}: {exc}{where}"


def _app_in(module: ModuleType, module_name: str, attr: str | None) -> Pynenc:
    """``attr`` of the module (a dotted path), or its single Pynenc instance when attr is None."""
    from pynenc.app import Pynenc

    apps = _apps_in(module)
    if attr is None:
        unique = {id(app): app for app in apps.values()}
        if len(unique) == 1:
            return next(iter(unique.values()))
        if not unique:
            raise _CandidateFailed(f"module '{module_name}' holds no Pynenc instance")
        raise _CandidateFailed(
            f"module '{module_name}' holds several Pynenc instances ({', '.join(apps)}); name "
            f"one, e.g. '{module_name}:{next(iter(apps))}'"
        )
    found: object = module
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            known = f"; its Pynenc instances: {', '.join(apps)}" if apps else ""
            raise _CandidateFailed(
                f"module '{module_name}' has no attribute '{attr}'{known}"
            ) from None
    if not isinstance(found, Pynenc):
        raise _CandidateFailed(
            f"'{module_name}:{attr}' is a {type(found).__name__}, not a Pynenc app"
        )
    return found


def _apps_in(module: ModuleType) -> dict[str, Pynenc]:
    from pynenc.app import Pynenc

    return {name: value for name, value in vars(module).items() if isinstance(value, Pynenc)}


# --- files ----------------------------------------------------------------------------------


def _from_file(path_text: str, attr: str | None) -> Pynenc:
    """Import a ``.py`` file under its package's dotted name, its package root on sys.path."""
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.is_dir():
        raise _CandidateFailed(f"{path} is a directory; name a .py file")
    if not path.is_file():
        raise _CandidateFailed(f"{path} does not exist")
    if path.suffix != ".py":
        raise _CandidateFailed(f"{path} is not a Python file (.py)")
    path = path.resolve()
    module_name, root = module_name_for(path)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = _import(module_name)
    module_file = getattr(module, "__file__", None)
    if module_file is None or Path(module_file).resolve() != path:
        raise _CandidateFailed(
            f"its module name '{module_name}' is already taken by "
            f"{module_file or 'a module without a file'}; rename the file or use "
            "--app module:attribute"
        )
    return _app_in(module, module_name, attr)


def module_name_for(path: Path) -> tuple[str, Path]:
    """The dotted module name of a ``.py`` file and the directory to import it from: the
    parent of its outermost package (directories with ``__init__.py``)."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory
