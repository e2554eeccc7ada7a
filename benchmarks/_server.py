"""Start the simulator (or another server) in a child process pinned to one CPU core."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class ServerProcess:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


@contextmanager
def simulator_process(*args: str, core: int | None = 0) -> Iterator[ServerProcess]:
    """``python -m sinch_async.testing serve --port 0`` as a child process."""
    cmd = [
        sys.executable,
        "-m",
        "sinch_async.testing",
        "serve",
        "--port",
        "0",
        "--messages-per-second",
        "1000000",
        *args,
    ]
    with _child(cmd, core) as server:
        yield server


@contextmanager
def fast_server_process(core: int | None = 0) -> Iterator[ServerProcess]:
    """The minimal fast server of ``_fastserver.py`` as a child process."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_fastserver.py")
    with _child([sys.executable, script], core) as server:
        yield server


@contextmanager
def _child(cmd: list[str], core: int | None) -> Iterator[ServerProcess]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if core is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(proc.pid, {core})
        deadline = time.monotonic() + 30
        url = None
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise RuntimeError(
                f"simulator did not start: {proc.stderr.read() if proc.stderr else ''}"
            )
        yield ServerProcess(url=url, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
