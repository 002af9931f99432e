"""``python -m pynenc.cli``: the same as the ``pynenc`` script."""

from pynenc.cli.main import main

raise SystemExit(main())
