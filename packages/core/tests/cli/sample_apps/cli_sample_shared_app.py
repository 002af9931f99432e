"""An app configured only from outside (``--config``), for runners in other processes."""

from __future__ import annotations

from pynenc import Pynenc

app = Pynenc()


@app.task
def multiply(x: int, y: int) -> int:
    return x * y
