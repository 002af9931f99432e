"""Imported once by the ProcessRunner's fork server, so every forked child starts with the plugin
registry loaded, the modules it will use imported and the parent's main script already run:
importing, scanning entry points and running the script again cost tens to hundreds of
milliseconds per process.

The runner names the modules in :data:`~pynenc.runner.process_runner.PRELOAD_VARIABLE` (the
app's, its components', its known tasks'). A module that fails to import here is left to the
child, which reports the error where it belongs (the invocation that needs it).

multiprocessing runs the parent's main script in every child it starts (pickled references may
point into it) unless the fork server ran it first; its own ``"__main__"`` preload does not do
that on every Python we support, so the runner passes the script's path in
:data:`~pynenc.runner.process_runner.MAIN_PATH_VARIABLE` and this module runs it, as
multiprocessing would, under the name ``__mp_main__``."""

import contextlib
import importlib
import os
from multiprocessing import process, spawn

from pynenc.plugins.registry import get_registry
from pynenc.runner.process_runner import MAIN_PATH_VARIABLE, PRELOAD_VARIABLE

registry = get_registry()
for kind in ("orchestrator", "broker", "state_backend", "trigger", "client_data_store"):
    for name in registry.known_names(kind):
        if name.startswith(("SQLite", "Mem")):
            registry.resolve(kind, name)

# what a child needs to load and run its invocation, which the modules above import lazily
importlib.import_module("pynenc.invocation.dist_invocation")

for _module in filter(None, os.environ.pop(PRELOAD_VARIABLE, "").split(",")):
    with contextlib.suppress(Exception):
        importlib.import_module(_module)

_main_path = os.environ.pop(MAIN_PATH_VARIABLE, None)
if _main_path:
    process.current_process()._inheriting = True  # type: ignore[attr-defined]
    try:
        with contextlib.suppress(Exception):
            spawn.import_main_path(_main_path)
    finally:
        del process.current_process()._inheriting  # type: ignore[attr-defined]
