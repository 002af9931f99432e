"""Typed configuration of pynenc: the engine and the config classes of the core components."""

from pynenc.conf.config_base import (
    ConfigField,
    ConfigPynencBase,
    ConfigSource,
    ConfigSources,
    ConfigValueInfo,
    Parser,
    SourceKind,
    bounded,
    enum_parser,
    non_empty_str,
    one_of,
    optional,
    parse_bool,
    parse_exception_types,
    parse_float,
    parse_int,
    parse_optional_bool,
    parse_str,
    parse_str_dict,
    parse_str_set,
    parse_str_tuple,
)
from pynenc.conf.config_broker import ConfigBroker
from pynenc.conf.config_client_data_store import ConfigClientDataStore
from pynenc.conf.config_orchestrator import ConfigOrchestrator
from pynenc.conf.config_pynenc import ArgumentPrintMode, ConfigPynenc, LogFormat
from pynenc.conf.config_runner import ConfigRunner, ConfigThreadRunner
from pynenc.conf.config_state_backend import ConfigStateBackend
from pynenc.conf.config_task import ConcurrencyControlType, ConfigTask
from pynenc.conf.config_trigger import ConfigTrigger

__all__ = [
    "ArgumentPrintMode",
    "ConcurrencyControlType",
    "ConfigBroker",
    "ConfigClientDataStore",
    "ConfigField",
    "ConfigOrchestrator",
    "ConfigPynenc",
    "ConfigPynencBase",
    "ConfigRunner",
    "ConfigSource",
    "ConfigSources",
    "ConfigStateBackend",
    "ConfigTask",
    "ConfigThreadRunner",
    "ConfigTrigger",
    "ConfigValueInfo",
    "LogFormat",
    "Parser",
    "SourceKind",
    "bounded",
    "enum_parser",
    "non_empty_str",
    "one_of",
    "optional",
    "parse_bool",
    "parse_exception_types",
    "parse_float",
    "parse_int",
    "parse_optional_bool",
    "parse_str",
    "parse_str_dict",
    "parse_str_set",
    "parse_str_tuple",
]
