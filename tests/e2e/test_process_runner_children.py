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


@app.task
def pid() -> int:
    return os.getpid()
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


def _run_main(tmp_path: Path, main: str) -> str:
    """Run ``main`` as a script next to the tasks module, on a database of its own; its output."""
    (tmp_path / "children_tasks.py").write_text(textwrap.dedent(TASKS))
    (tmp_path / "main.py").write_text(textwrap.dedent(main))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYNENC")},
        "DB_PATH": str(tmp_path / "db.sqlite"),
        "MARK_FILE": str(tmp_path / "mark.txt"),
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
    return done.stdout


def test_children_do_not_run_the_parents_main_script_again(tmp_path: Path) -> None:
    stdout = _run_main(tmp_path, MAIN)
    assert stdout.strip() == "21", "six invocations ran in their own processes"
    # the parent ran it as __main__ and the fork server once as __mp_main__; no child did
    assert sorted((tmp_path / "mark.txt").read_text().split()) == ["__main__", "__mp_main__"]


SPARE = """
import os
import time

from children_tasks import app, pid

from pynenc.runner.process_runner import ProcessRunner
from pynenc.testing.harness import RunningRunner

if __name__ == "__main__":
    runner = ProcessRunner(app)

    def ready_spare():
        deadline = time.monotonic() + 30
        while runner._spare is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the runner thread starts the spare (a poll with a deadline)
        return runner._spare.process

    running = RunningRunner(runner).start()
    try:
        spares = []
        ran_in = []
        for _ in range(3):
            spare = ready_spare()
            spares.append(spare.pid if spare.is_alive() else None)
            ran_in.append(pid().wait(timeout=60))
        last_spare = ready_spare()
    finally:
        running.stop()
    print(spares == ran_in, len(set(ran_in)) == 3, last_spare.is_alive(), last_spare.exitcode)
"""


def test_a_spare_process_started_ahead_takes_each_invocation_and_stops_with_the_runner(
    tmp_path: Path,
) -> None:
    same, distinct, alive, exitcode = _run_main(tmp_path, SPARE).split()
    assert same == "True", "each invocation ran in the spare that was waiting for it"
    assert distinct == "True", "one process per invocation"
    assert (alive, exitcode) == ("False", "0"), "the last spare exits cleanly with the runner"
