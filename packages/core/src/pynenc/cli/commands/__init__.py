"""The ``pynenc`` commands, one module each; each module's ``register`` adds its parser."""
