"""MultiThreadRunner: several processes, each executing invocations in several threads."""

from __future__ import annotations

from typing import ClassVar

from pynenc.conf.config_runner import ConfigMultiThreadRunner
from pynenc.runner.process_pool_runner import ProcessPoolRunner


class MultiThreadRunner(ProcessPoolRunner):
    """``num_processes`` child processes with ``max_threads`` threads each: the throughput
    runner for I/O-bound work that also wants more than one core."""

    config_cls: ClassVar[type[ConfigMultiThreadRunner]] = ConfigMultiThreadRunner
    conf: ConfigMultiThreadRunner

    @property
    def threads_per_process(self) -> int:
        return self.conf.effective_max_threads()
