"""Namespace for backend distributions (``pynenc.backends.redis`` and friends).

Backend wheels must not ship this file: they only add their own sub-package, and the
``extend_path`` call below lets Python find it wherever it is installed.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
