"""ProcessRunner children start from a fork server that ran the parent's main script once: no
child runs it again (multiprocessing would, before each invocation, at the cost of importing
everything the script imports)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TASKS = """
import os

from pynenc import Pynenc

app = Pynenc(
    app_id="children-start",
    config_values={"sqlite_db_path": os.environ["DB_PATH"], "logging_level": "warning"},
)


@app.task
def add(x: int, y: int) -> int:
    return x + y
"""

MAIN = """
import os

with open(os.environ["MARK_FILE"], "a") as mark:
    mark.write(f"{__name__}\\n")

from children_tasks import add, app  # noqa: E402

from pynenc.runner.process_runner import ProcessRunner  # noqa: E402
from pynenc.testing.harness import RunningRunner  # noqa: E402

if __name__ == "__main__":
    runner = RunningRunner(ProcessRunner(app)).start()
    try:
        print(sum(add.parallelize([(i, 1) for i in range(6)]).results))
    finally:
        runner.stop()
"""


def test_children_do_not_run_the_parents_main_script_again(tmp_path: Path) -> None:
    (tmp_path / "children_tasks.py").write_text(textwrap.dedent(TASKS))
    (tmp_path / "main.py").write_text(textwrap.dedent(MAIN))
    mark = tmp_path / "mark.txt"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYNENC")},
        "DB_PATH": str(tmp_path / "db.sqlite"),
        "MARK_FILE": str(mark),
    }
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "21", "six invocations ran in their own processes"
    # the parent ran it as __main__ and the fork server once as __mp_main__; no child did
    assert sorted(mark.read_text().split()) == ["__main__", "__mp_main__"]
