"""pynenc: distributed task orchestration for Python.

``pynenc`` is the core distribution's package; backend distributions add modules under
``pynenc.backends``, which is why this package extends its ``__path__``.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from pynenc.app import AppInfo, Pynenc
from pynenc.task import Task

__version__ = "0.1.0"

__all__ = ["AppInfo", "Pynenc", "Task", "__version__"]
