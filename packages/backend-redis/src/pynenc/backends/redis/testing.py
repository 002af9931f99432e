"""A real ``redis-server`` for tests: found on the machine, started on a free loopback port in
a directory of its own, stopped afterwards. Installing it is the test tooling's job (``./dev
test`` installs Debian's ``redis-server``); this module only finds and runs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SEARCH_PATHS = ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server")


def find_redis_server() -> str | None:
    """The ``redis-server`` executable: ``$PYNENC_TEST_REDIS_SERVER``, the PATH, or Debian's
    usual places."""
    configured = os.environ.get("PYNENC_TEST_REDIS_SERVER")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which("redis-server")
    if found:
        return found
    return next((p for p in SEARCH_PATHS if os.access(p, os.X_OK)), None)


def free_port() -> int:
    """A TCP port nothing listens on right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1. Without persistence by default (fast);
    ``appendonly=True`` keeps every write in an append-only file, so a stop with SHUTDOWN and
    a start on the same directory loses nothing."""

    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        port: int | None = None,
        appendonly: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = extra_args
        self.password = ""
        if "--requirepass" in extra_args:
            self.password = extra_args[extra_args.index("--requirepass") + 1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.directory / "redis.log"

    def client(self) -> Any:
        """A connection of its own (not pynenc's), for checks and commands."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password or None,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
        )

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait, up to ``timeout`` seconds, until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.log_file),
            "--save",
            "",
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        delay = 0.005
        client = self.client()
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited with {self.process.returncode} at start: "
                        f"{self._diagnostics()}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"redis-server did not answer PING within {timeout}s: {self._diagnostics()}"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        finally:
            client.close()

    def shutdown(self, timeout: float = 20.0) -> None:
        """Stop the server with SHUTDOWN (its append-only file is flushed) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        client = self.client()
        try:
            client.shutdown(nosave=not self.appendonly)
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        finally:
            client.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def used_memory(self) -> int:
        """Bytes the server's allocator holds (INFO memory ``used_memory``)."""
        client = self.client()
        try:
            return int(client.info("memory")["used_memory"])
        finally:
            client.close()

    def _diagnostics(self) -> str:
        log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
        stderr = b""
        if self.process is not None and self.process.stderr and self.process.poll() is not None:
            stderr = self.process.stderr.read()[-2000:]
        return (log + stderr.decode(errors="replace")).strip() or "no output"
