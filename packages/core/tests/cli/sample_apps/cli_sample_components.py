"""Custom components selected by import path: a broker with a secret setting, a runner."""

from __future__ import annotations

from typing import ClassVar

from pynenc.broker.mem_broker import MemBroker
from pynenc.conf.config_base import ConfigField
from pynenc.conf.config_broker import ConfigBroker
from pynenc.conf.config_runner import ConfigThreadRunner
from pynenc.runner.thread_runner import ThreadRunner


class ConfigSecretBroker(ConfigBroker):
    """A broker config with a password, which show_config must never print."""

    broker_password = ConfigField("", secret=True, doc="Password of the sample broker.")


class SecretBroker(MemBroker):
    config_cls: ClassVar[type[ConfigBroker]] = ConfigSecretBroker


class ConfigLabelledRunner(ConfigThreadRunner):
    """A runner config with a field no built-in runner has."""

    runner_label = ConfigField("unlabelled", doc="A name shown nowhere; tests read it back.")


class LabelledRunner(ThreadRunner):
    config_cls: ClassVar[type[ConfigThreadRunner]] = ConfigLabelledRunner
