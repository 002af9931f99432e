"""PersistentProcessRunner: a fixed pool of long-lived processes, one invocation at a time each."""

from __future__ import annotations

from typing import ClassVar

from pynenc.conf.config_runner import ConfigPersistentProcessRunner
from pynenc.runner.process_pool_runner import ProcessPoolRunner


class PersistentProcessRunner(ProcessPoolRunner):
    """``num_processes`` long-lived children, each running one invocation at a time (a task
    waiting on others gives its slot back, so waiting chains cannot deadlock the pool). For
    CPU-bound work without the cost of a process per invocation."""

    config_cls: ClassVar[type[ConfigPersistentProcessRunner]] = ConfigPersistentProcessRunner
    conf: ConfigPersistentProcessRunner
