"""Where configuration values come from: the raw layers every config object of an app reads.

:class:`ConfigSources` is loaded once (files are parsed, the environment is copied) and then
shared, so building a config object never touches the disk or ``os.environ`` again.

Layers, lowest precedence first:

1. **Project file**, found by walking from the working directory upward. In each directory
   ``pynenc.toml`` (then ``pynenc.yaml`` / ``pynenc.yml``) is used as a whole document, or its
   ``[tool.pynenc]`` table when it has one; otherwise a ``pyproject.toml`` contributes its
   ``[tool.pynenc]`` table. The first ``pyproject.toml`` found ends the walk even without that
   table: it marks the project root, and settings of an enclosing project must not leak in.
2. **Config file**: ``config_filepath`` or the ``PYNENC__FILEPATH`` environment variable
   (``.toml``, ``.json``, ``.yaml``/``.yml``); its ``[tool.pynenc]`` table when it has one.
3. **Environment**: ``PYNENC__<FIELD>``, ``PYNENC__<CONFIGCLASS>__<FIELD>`` and, per task,
   ``PYNENC__CONFIGTASK__<TASK_ID with '.' as '__'>__<FIELD>``; names are case-insensitive.
4. **config_values**: the mapping passed in code.

Every layer has the same structure: top-level keys are field names for every config class that
has the field; a mapping under a class's ``section`` (or its lowercase class name) applies to that
class and its subclasses; the ``task`` section holds task option defaults and, in sub-mappings keyed
by task id, per-task overrides.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pynenc.exceptions import ConfigError, ConfigFileError

SourceKind = Literal["default", "pyproject", "file", "env", "config_values", "decorator"]

ENV_PREFIX = "PYNENC__"
ENV_FILEPATH = "PYNENC__FILEPATH"
TASK_SECTION_KEYS = frozenset({"task", "configtask"})
PROJECT_FILE_NAMES = ("pynenc.toml", "pynenc.yaml", "pynenc.yml")
PYPROJECT = "pyproject.toml"
_SUPPORTED_SUFFIXES = ".toml, .json, .yaml, .yml"
_BARE_TOML_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ConfigSource:
    """Where one config value came from, precise enough for a user to go and change it.

    ``location`` is self-describing: a file path with its table
    (``/app/pyproject.toml [tool.pynenc.orchestrator]``), ``env PYNENC__APP_ID``,
    ``config_values['app_id']``...
    """

    kind: SourceKind
    location: str = ""

    def __str__(self) -> str:
        return self.location or self.kind


DEFAULT_SOURCE = ConfigSource("default", "field default")


@dataclass(frozen=True, eq=False)
class _Entry:
    value: Any
    source: ConfigSource


@dataclass(frozen=True, eq=False)
class _Layer:
    """One input normalised for lookup; all keys lowercase, task ids in env form (``a__b``)."""

    kind: SourceKind
    generic: dict[str, _Entry]
    sections: dict[str, dict[str, _Entry]]
    task_overrides: dict[str, dict[str, _Entry]]
    sections_from_documents: frozenset[str] = frozenset()
    unrecognized: tuple[str, ...] = ()


def task_key(task_id: str) -> str:
    """Normalise a task id the way per-task keys are stored: lowercase, each '.' as '__'."""
    return task_id.lower().replace(".", "__")


class ConfigSources:
    """An immutable snapshot of every raw configuration input of an app.

    Build it with :meth:`load` (files + environment + ``config_values``) or :meth:`from_values`
    (``config_values`` only, for isolated tests), then pass it to every config object.
    """

    __slots__ = ("_descending", "_files", "_layers")

    def __init__(self, layers: Iterable[_Layer] = (), files: Iterable[Path] = ()) -> None:
        self._layers = tuple(layers)
        self._descending = tuple(reversed(self._layers))
        self._files = tuple(files)

    @classmethod
    def load(
        cls,
        config_values: Mapping[str, Any] | None = None,
        config_filepath: str | None = None,
        *,
        cwd: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ConfigSources:
        """Read the project file, the config file, the environment and ``config_values``.

        ``cwd`` (default: the working directory) starts the project-file walk and anchors a
        relative ``config_filepath``; ``environ`` defaults to ``os.environ``.
        """
        env = dict(os.environ if environ is None else environ)
        start = Path.cwd() if cwd is None else Path(cwd)
        layers: list[_Layer] = []
        files: list[Path] = []
        project = _find_project_file(start)
        if project is not None:
            path, table, table_path = project
            layers.append(_document_layer("pyproject", table, path, table_path))
            files.append(path)
        filepath = config_filepath or _env_lookup(env, ENV_FILEPATH)
        if filepath:
            path = Path(filepath).expanduser()
            if not path.is_absolute():
                path = start / path
            table, table_path = _pynenc_table(_read_document(path), path, require_tool_table=False)
            layers.append(_document_layer("file", table, path, table_path))
            files.append(path)
        layers.append(_env_layer(env))
        if config_values:
            layers.append(_values_layer(config_values))
        return cls(layers, files)

    @classmethod
    def from_values(cls, config_values: Mapping[str, Any] | None = None) -> ConfigSources:
        """A snapshot holding only ``config_values``: no files, no environment."""
        return cls([_values_layer(config_values)] if config_values else [])

    def with_config_values(self, config_values: Mapping[str, Any]) -> ConfigSources:
        """A new snapshot with ``config_values`` added above every existing layer."""
        if not config_values:
            return self
        return ConfigSources([*self._layers, _values_layer(config_values)], self._files)

    @property
    def files(self) -> tuple[Path, ...]:
        """The files that contributed settings, lowest precedence first."""
        return self._files

    @property
    def kinds(self) -> tuple[SourceKind, ...]:
        """The kinds of the layers held, lowest precedence first."""
        return tuple(layer.kind for layer in self._layers)

    def lookup(
        self, section_keys: Sequence[str], field_name: str
    ) -> tuple[Any, ConfigSource] | None:
        """The raw value of ``field_name`` for a class whose sections are ``section_keys``.

        ``section_keys`` are ordered from the most specific class to its farthest parent. The
        highest layer that defines the field wins; within a layer a section key beats the ones
        after it, and any section beats the generic top-level key.
        """
        for layer in self._descending:
            for key in section_keys:
                section = layer.sections.get(key)
                if section is not None:
                    entry = section.get(field_name)
                    if entry is not None:
                        return entry.value, entry.source
            entry = layer.generic.get(field_name)
            if entry is not None:
                return entry.value, entry.source
        return None

    def lookup_task_override(
        self, task_id: str, field_name: str
    ) -> tuple[Any, ConfigSource] | None:
        """The raw per-task override of ``field_name`` for ``task_id`` from the highest layer."""
        key = task_key(task_id)
        for layer in self._descending:
            overrides = layer.task_overrides.get(key)
            if overrides is not None:
                entry = overrides.get(field_name)
                if entry is not None:
                    return entry.value, entry.source
        return None

    def unknown_keys(
        self, known_fields: set[str], known_sections: Iterable[str] | None = None
    ) -> list[str]:
        """Keys no config class will read, each with where it was set, for warnings.

        ``known_sections`` defaults to the sections of every config class defined so far
        (see :func:`pynenc.conf.config_base.registered_section_keys`).
        """
        if known_sections is None:
            from pynenc.conf.config_base import registered_section_keys

            known_sections = registered_section_keys()
        sections = {key.lower() for key in known_sections}
        found: list[str] = []
        for layer in self._layers:
            found.extend(_unknown_in_layer(layer, known_fields, sections))
        return sorted(set(found))

    def __repr__(self) -> str:
        files = ", ".join(str(path) for path in self._files)
        return f"ConfigSources(layers={list(self.kinds)!r}, files=[{files}])"


def _unknown_in_layer(layer: _Layer, known_fields: set[str], known_sections: set[str]) -> list[str]:
    found = [f"{name} (env {name})" for name in layer.unrecognized]
    for name, entry in layer.generic.items():
        is_section = isinstance(entry.value, Mapping) and name in known_sections
        if name not in known_fields and not is_section:
            found.append(f"{name} ({entry.source})")
    for section_key, section in layer.sections.items():
        if section_key not in known_sections:
            if section_key not in layer.sections_from_documents:
                found.extend(f"{section_key}.{name} ({e.source})" for name, e in section.items())
            continue
        for name, entry in section.items():
            nested_task = section_key in TASK_SECTION_KEYS and isinstance(entry.value, Mapping)
            if name not in known_fields and not nested_task:
                found.append(f"{section_key}.{name} ({entry.source})")
    for task, overrides in layer.task_overrides.items():
        for name, entry in overrides.items():
            if name not in known_fields and not isinstance(entry.value, Mapping):
                found.append(f"task {task}: {name} ({entry.source})")
    return found


# --- building layers ------------------------------------------------------------------------

Where = Callable[[tuple[str, ...], str], str]


def _build_layer(kind: SourceKind, document: Mapping[Any, Any], where: Where) -> _Layer:
    """Index a document by generic key, section and task override; ``where`` names locations."""
    generic: dict[str, _Entry] = {}
    sections: dict[str, dict[str, _Entry]] = {}
    overrides: dict[str, dict[str, _Entry]] = {}
    for raw_key, value in document.items():
        key = str(raw_key)
        generic[key.lower()] = _Entry(value, ConfigSource(kind, where((), key)))
        if not isinstance(value, Mapping):
            continue
        section = sections.setdefault(key.lower(), {})
        for raw_name, field_value in value.items():
            name = str(raw_name)
            section[name.lower()] = _Entry(field_value, ConfigSource(kind, where((key,), name)))
        if key.lower() in TASK_SECTION_KEYS:
            _collect_task_overrides(kind, value, (key,), (), overrides, where)
    return _Layer(kind, generic, sections, overrides, frozenset(sections))


def _collect_task_overrides(
    kind: SourceKind,
    mapping: Mapping[Any, Any],
    table: tuple[str, ...],
    id_parts: tuple[str, ...],
    out: dict[str, dict[str, _Entry]],
    where: Where,
) -> None:
    """Read ``task."mod.add"`` and nested ``task.mod.add`` tables alike as overrides of ``mod.add``.

    Every sub-mapping is recorded under its dotted path; only ids of real tasks are ever looked up.
    """
    for raw_key, value in mapping.items():
        if not isinstance(value, Mapping):
            continue
        key = str(raw_key)
        task_parts = (*id_parts, key)
        bucket = out.setdefault(task_key(".".join(task_parts)), {})
        for raw_name, option in value.items():
            name = str(raw_name)
            bucket[name.lower()] = _Entry(option, ConfigSource(kind, where((*table, key), name)))
        _collect_task_overrides(kind, value, (*table, key), task_parts, out, where)


def _toml_key(key: str) -> str:
    return key if _BARE_TOML_KEY.match(key) else json.dumps(key)


def _document_layer(
    kind: SourceKind, table: Mapping[Any, Any], path: Path, table_path: tuple[str, ...]
) -> _Layer:
    def where(parts: tuple[str, ...], _name: str) -> str:
        full = (*table_path, *parts)
        if not full:
            return f"{path} (top level)"
        return f"{path} [{'.'.join(_toml_key(part) for part in full)}]"

    return _build_layer(kind, table, where)


def _values_layer(config_values: Mapping[str, Any]) -> _Layer:
    if not isinstance(config_values, Mapping):
        raise ConfigError(
            f"config_values must be a mapping of field names to values, got "
            f"{type(config_values).__name__}."
        )

    def where(parts: tuple[str, ...], name: str) -> str:
        return "config_values" + "".join(f"[{part!r}]" for part in (*parts, name))

    return _build_layer("config_values", config_values, where)


def _env_lookup(env: Mapping[str, str], name: str) -> str | None:
    for key, value in env.items():
        if key.upper() == name:
            return value
    return None


def _env_layer(env: Mapping[str, str]) -> _Layer:
    """Parse ``PYNENC__`` variables; sorted so duplicates differing only in case resolve stably."""
    generic: dict[str, _Entry] = {}
    sections: dict[str, dict[str, _Entry]] = {}
    overrides: dict[str, dict[str, _Entry]] = {}
    unrecognized: list[str] = []
    for var in sorted(env):
        if not var.upper().startswith(ENV_PREFIX) or var.upper() == ENV_FILEPATH:
            continue
        parts = var[len(ENV_PREFIX) :].lower().split("__")
        entry = _Entry(env[var], ConfigSource("env", f"env {var}"))
        if not all(parts):
            unrecognized.append(var)
        elif len(parts) == 1:
            generic[parts[0]] = entry
        elif len(parts) == 2:
            sections.setdefault(parts[0], {})[parts[1]] = entry
        elif parts[0] in TASK_SECTION_KEYS:
            overrides.setdefault("__".join(parts[1:-1]), {})[parts[-1]] = entry
        else:
            unrecognized.append(var)
    return _Layer("env", generic, sections, overrides, frozenset(), tuple(unrecognized))


# --- reading files --------------------------------------------------------------------------


def _find_project_file(start: Path) -> tuple[Path, Mapping[str, Any], tuple[str, ...]] | None:
    """The nearest project file from ``start`` upward, its pynenc table and that table's path."""
    directory = start.resolve()
    for folder in (directory, *directory.parents):
        for name in PROJECT_FILE_NAMES:
            candidate = folder / name
            if candidate.is_file():
                table, table_path = _pynenc_table(
                    _read_document(candidate), candidate, require_tool_table=False
                )
                return candidate, table, table_path
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            table, table_path = _pynenc_table(
                _read_document(pyproject), pyproject, require_tool_table=True
            )
            return (pyproject, table, table_path) if table_path else None
    return None


def _pynenc_table(
    document: Mapping[str, Any], path: Path, *, require_tool_table: bool
) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The ``tool.pynenc`` table if present, else the whole document (or nothing for pyproject)."""
    tool = document.get("tool")
    if isinstance(tool, Mapping) and "pynenc" in tool:
        table = tool["pynenc"]
        if not isinstance(table, Mapping):
            raise ConfigFileError(
                f"{path}: [tool.pynenc] must be a table of settings, got {type(table).__name__}."
            )
        return table, ("tool", "pynenc")
    if require_tool_table:
        return {}, ()
    return document, ()


def _read_document(path: Path) -> Mapping[str, Any]:
    """Parse a TOML, JSON or YAML file into a mapping, or raise ConfigFileError naming the file."""
    suffix = path.suffix.lower()
    parse = _PARSERS.get(suffix)
    if parse is None:
        raise ConfigFileError(
            f"Config file {path} has an unsupported extension {suffix or '(none)'!r}; "
            f"use one of {_SUPPORTED_SUFFIXES}."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(
            f"Config file {path} does not exist. Check config_filepath or {ENV_FILEPATH}."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"Config file {path} cannot be read: {exc}.") from exc
    document = parse(text, path)
    if document is None and suffix in (".yaml", ".yml"):
        return {}
    if not isinstance(document, Mapping):
        raise ConfigFileError(
            f"Config file {path} must hold a mapping of settings at the top level, "
            f"got {type(document).__name__}."
        )
    return document


def _parse_toml(text: str, path: Path) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"Config file {path} is not valid TOML: {exc}.") from exc


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"Config file {path} is not valid JSON: {exc}.") from exc


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigFileError(
            f"Config file {path} is YAML, which needs PyYAML: pip install 'pynenc-core[yaml]'."
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"Config file {path} is not valid YAML: {exc}.") from exc


_PARSERS: dict[str, Callable[[str, Path], Any]] = {
    ".toml": _parse_toml,
    ".json": _parse_json,
    ".yaml": _parse_yaml,
    ".yml": _parse_yaml,
}
